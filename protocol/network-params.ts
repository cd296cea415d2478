import { z } from 'zod';
import { Ipv4, Name } from './common.js';

/**
 * Per-type network parameters: what a node needs to build the network's interface. One
 * discriminated union, checked by the API (field paths `params.port` …), stored in typed
 * columns with database constraints (schema.sql), carried in the node view, shown by
 * `network show`.
 */

/** IANA UDP ports of the tunnels (RFC 7348, RFC 8926): the defaults. */
export const DEFAULT_VXLAN_PORT = 4789;
export const DEFAULT_GENEVE_PORT = 6081;

const Port = z.number().int().min(1).max(65535);
export const VxlanParams = z.object({ type: z.literal('vxlan'), port: Port.default(DEFAULT_VXLAN_PORT) }).strict();
export const GeneveParams = z.object({ type: z.literal('geneve'), port: Port.default(DEFAULT_GENEVE_PORT) }).strict();
export const IpsecParams = z
  .object({
    type: z.literal('ipsec'),
    rotateHours: z
      .number()
      .min(0.01)
      .max(8760)
      .optional()
      .describe("key rotation period; absent: the controller's --ipsec-rotate-hours (default 24)"),
  })
  .strict();
export const PhysicalParams = z
  .object({
    type: z.literal('physical'),
    physicalNetwork: Name.describe(
      'a physical network name that nodes map to a host interface (freight-agent --physical-network NAME=IFACE)',
    ),
    vlan: z.number().int().min(1).max(4094).optional().describe('802.1Q VLAN ID; absent: flat (untagged)'),
  })
  .strict();
export const NetworkParams = z.discriminatedUnion('type', [VxlanParams, GeneveParams, IpsecParams, PhysicalParams]);
export type NetworkParams = z.infer<typeof NetworkParams>;
export type PhysicalParams = z.infer<typeof PhysicalParams>;

/** The parameters of a type when none were given (physical has no defaults: it needs a physical network). */
export function defaultParams(type: 'vxlan' | 'geneve' | 'ipsec'): NetworkParams {
  if (type === 'vxlan') return { type, port: DEFAULT_VXLAN_PORT };
  if (type === 'geneve') return { type, port: DEFAULT_GENEVE_PORT };
  return { type };
}

/** An allocation pool: container (and infra) addresses come only from these ranges when given. */
export const AddressPool = z.object({ start: Ipv4, end: Ipv4 }).strict();
export type AddressPool = z.infer<typeof AddressPool>;
