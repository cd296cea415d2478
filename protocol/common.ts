import { z } from 'zod';
import { isNetwork4, parseCidr4 } from './addr.js';

/** The one name rule: a DNS label (lower-case letters, digits, inner dashes, 1–63 characters). */
export const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Names of tenants, networks, containers, nodes, images: DNS-label safe, so they can be DNS names. */
export const Name = z.string().min(1).max(63).regex(NAME_RE, 'lower-case letters, digits and inner dashes, at most 63');

const IPV4_MSG = 'an IPv4 address such as 10.0.0.1';
const CIDR4_MSG = 'an IPv4 network in CIDR form with no host bits, prefix /8 to /30, such as 10.0.0.0/24';
const MAC_MSG = 'a lower-case MAC such as 02:00:00:00:00:01';
/** zod's own formats (OpenAPI `format: ipv4|cidrv4|mac`); the network rule on top comes from addr.ts. */
export const Ipv4 = z.ipv4({ error: IPV4_MSG });
export const Cidr4 = z.cidrv4({ error: CIDR4_MSG }).refine((s) => {
  try {
    const { prefix } = parseCidr4(s);
    return prefix >= 8 && prefix <= 30 && isNetwork4(s);
  } catch {
    return false; // the format check above has reported it
  }
}, CIDR4_MSG);
// lower case only, as before (and as the agent's netlink reads come back); a refine keeps the OpenAPI format
export const Mac = z.mac({ delimiter: ':', error: MAC_MSG }).refine((s) => s === s.toLowerCase(), MAC_MSG);
export const Domain = z
  .string()
  .max(200)
  .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a DNS domain such as freight.internal');
export const NetworkType = z.enum(['vxlan', 'geneve', 'ipsec', 'physical']);
export type NetworkType = z.infer<typeof NetworkType>;
export const RestartPolicy = z.enum(['never', 'on-failure', 'always']);
export type RestartPolicy = z.infer<typeof RestartPolicy>;

/** Encapsulation overhead per network type (bytes), subtracted from the underlay MTU. */
export const OVERHEAD: Record<NetworkType, number> = {
  vxlan: 50,
  geneve: 50,
  // vxlan inside ESP transport: + ESP header 8, IV 8, ICV 16, trailer up to 2+15 padding
  ipsec: 50 + 40,
  // no encapsulation: the mapped interface's MTU is the network's
  physical: 0,
};
export const DEFAULT_UNDERLAY_MTU = 1500;
export const DEFAULT_DOMAIN = 'freight.internal';
