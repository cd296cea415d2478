import { z } from 'zod';
import { isNetwork4 } from './addr.js';
import { Domain, Ipv4 } from './common.js';

/** Metadata and settings every object or network may carry, shared by the create and patch bodies. */

/** Labels as kubectl spells them: `[prefix/]name`, values up to 63 characters (empty allowed). */
const LABEL_KEY_RE = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
export const MAX_LABELS = 64;
export const LabelKey = z.string().max(317).regex(LABEL_KEY_RE, 'a label key such as tier or example.com/tier');
export const LabelValue = z.string().max(63).regex(LABEL_VALUE_RE, 'a label value: letters, digits, dots, dashes, underscores, at most 63');
export const Labels = z.record(LabelKey, LabelValue).refine((l) => Object.keys(l).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);
export type Labels = z.infer<typeof Labels>;
/** In a patch: `null` removes the label. */
export const LabelsPatch = z.record(LabelKey, LabelValue.nullable());
// printed in tables and terminals: no control characters (escape sequences)
export const Description = z
  .string()
  .max(1024)
  // eslint-disable-next-line no-control-regex -- control characters are what it refuses
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'plain text without control characters');

/** A route destination: any IPv4 network, 0.0.0.0/0 (default route) included. */
const RouteDestination = z
  .cidrv4({ error: 'an IPv4 network such as 192.168.0.0/16 or 0.0.0.0/0' })
  .refine((s) => isNetwork4(s), 'an IPv4 network with no host bits, such as 192.168.0.0/16');
/** One classless static route (DHCP option 121); the gateway must be on the network. */
export const DhcpRoute = z.object({ destination: RouteDestination, gateway: Ipv4 }).strict();
/** Per-network DHCP options beyond the built-in ones (address, mask, router, MTU, the infra's DNS, domain). */
export const DhcpOptions = z
  .object({
    /** option 121 (RFC 3442); with routes set, clients that honour 121 ignore option 3, so add 0.0.0.0/0 for a default route */
    routes: z.array(DhcpRoute).max(16),
    /** option 42 */
    ntp: z.array(Ipv4).max(8),
    /** option 6, after the network's own name server (the infra instance) */
    dns: z.array(Ipv4).max(8),
    /** option 119 (RFC 3397), after the network's own zone */
    search: z.array(Domain).max(6),
  })
  .partial()
  .strict();
export type DhcpOptions = z.infer<typeof DhcpOptions>;
export const DhcpOptionsPatch = z
  .object({
    routes: DhcpOptions.shape.routes.unwrap().nullable(),
    ntp: DhcpOptions.shape.ntp.unwrap().nullable(),
    dns: DhcpOptions.shape.dns.unwrap().nullable(),
    search: DhcpOptions.shape.search.unwrap().nullable(),
  })
  .partial()
  .strict();
/** Where the network's infra forwards names outside its zone; absent: the agent's --dns-upstream. [] forwards nothing. */
export const DnsUpstreams = z.array(Ipv4).max(8);
export const Mtu = z.number().int().min(576).max(9000);
