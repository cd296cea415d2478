import { z } from 'zod';

/** Names of tenants, networks, containers, nodes: DNS-label safe, so they can be DNS names. */
export const Name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'lower-case letters, digits and inner dashes, at most 63');

const ipv4Re = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const Ipv4 = z.string().regex(ipv4Re, 'an IPv4 address such as 10.0.0.1');
export const Cidr4 = z
  .string()
  .refine((s) => {
    const [a, p, ...rest] = s.split('/');
    if (rest.length || p === undefined || !ipv4Re.test(a) || !/^\d{1,2}$/.test(p)) return false;
    const len = Number(p);
    if (len < 8 || len > 30) return false;
    const n = a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const host = 2 ** (32 - len) - 1;
    return n % (host + 1) === 0;
  }, 'an IPv4 network in CIDR form with no host bits, prefix /8 to /30, such as 10.0.0.0/24');
export const Mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'a lower-case MAC such as 02:00:00:00:00:01');
export const Domain = z
  .string()
  .max(200)
  .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a DNS domain such as freight.internal');
export const NetworkType = z.enum(['vxlan', 'geneve', 'ipsec']);
export type NetworkType = z.infer<typeof NetworkType>;
export const RestartPolicy = z.enum(['never', 'on-failure', 'always']);
export type RestartPolicy = z.infer<typeof RestartPolicy>;
export const Uuid = z.string().uuid();

/** Encapsulation overhead per network type (bytes), subtracted from the underlay MTU. */
export const OVERHEAD: Record<NetworkType, number> = {
  vxlan: 50,
  geneve: 50,
  // vxlan inside ESP transport: + ESP header 8, IV 8, ICV 16, trailer up to 2+15 padding
  ipsec: 50 + 40,
};
export const DEFAULT_UNDERLAY_MTU = 1500;
export const DEFAULT_DOMAIN = 'freight.internal';
