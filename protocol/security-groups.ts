import { z } from 'zod';
import { isNetwork4 } from './addr.js';
import { Name, NAME_RE } from './common.js';
import { Description } from './meta.js';

/** REST bodies of security groups (docs/security.md "Security groups"). */
export const SecurityGroupCreate = z.object({ name: Name, description: Description.optional() }).strict();
export type SecurityGroupCreate = z.infer<typeof SecurityGroupCreate>;

export const SG_DIRECTIONS = ['ingress', 'egress'] as const;
export const SG_PROTOS = ['tcp', 'udp', 'icmp', 'any'] as const;
/** At most this many rules per group (the bench's 100 groups × 100 rules fit 10×). */
export const MAX_RULES_PER_GROUP = 1000;
/** At most this many groups per container. */
export const MAX_GROUPS_PER_CONTAINER = 16;

const CIDR_MSG = 'an IPv4 network in CIDR form with no host bits, such as 0.0.0.0/0 or 10.0.0.0/24';
const RemoteCidr = z
  .string()
  .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, CIDR_MSG)
  .refine((s) => {
    try {
      return isNetwork4(s);
    } catch {
      return false;
    }
  }, CIDR_MSG);
/** A group of the same tenant: `name` or `tenant/name` (another tenant's answers 403 cross_tenant_group). */
export const GroupRef = z
  .string()
  .max(127)
  .regex(new RegExp(`^(${NAME_RE.source.slice(1, -1)}/)?${NAME_RE.source.slice(1, -1)}$`), 'a group name, or tenant/name');

/** At most this many entries in a rule's `ports` (each one port or a range). */
export const MAX_PORT_ENTRIES = 64;
const Port = z.number().int().min(1).max(65535);
const PortEntry = z.union([
  Port,
  z
    .string()
    .regex(/^\d{1,5}(-\d{1,5})?$/, 'a port (80) or a range (8000-8100)')
    .refine((v) => v.split('-').every((p) => Number(p) >= 1 && Number(p) <= 65535), 'ports are 1..65535')
    .refine((v) => {
      const [a, b = a] = v.split('-').map(Number);
      return a <= b;
    }, 'a range runs from its lower port to its higher'),
]);
export type PortRange = [number, number];

/** Sorted, overlapping and adjacent ranges merged: the set nft is given (and the stored multirange). */
export function portRanges(entries: Array<number | string>): PortRange[] {
  const ranges = entries
    .map((e): PortRange => {
      const [a, b = a] = String(e).split('-').map(Number);
      return [a, b];
    })
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: PortRange[] = [];
  for (const [a, b] of ranges) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The API's form of a port set: one port as a number, a range as `FIRST-LAST`. */
export const portEntries = (ranges: PortRange[]): Array<number | string> => ranges.map(([a, b]) => (a === b ? a : `${a}-${b}`));

/** `POST /v1/tenants/:tenant/security-groups/:group/rules`. */
export const SecurityRuleCreate = z
  .object({
    direction: z.enum(SG_DIRECTIONS),
    proto: z.enum(SG_PROTOS).default('any'),
    portMin: Port.optional().describe('tcp/udp only; with portMax a range, alone one port'),
    portMax: Port.optional(),
    ports: z
      .array(PortEntry)
      .min(1)
      .max(MAX_PORT_ENTRIES)
      .optional()
      .describe('tcp/udp only, instead of portMin/portMax: a set of ports and ranges, e.g. [80, 443, "8000-8100"] (one rule, one counter)'),
    remoteCidr: RemoteCidr.optional().describe('the peer address range (default: any address)'),
    remoteGroup: GroupRef.optional().describe('the peers are the members of this group of the same tenant'),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.remoteCidr !== undefined && v.remoteGroup !== undefined)
      ctx.addIssue({ code: 'custom', path: ['remoteGroup'], message: 'remoteCidr and remoteGroup exclude each other' });
    if (v.ports !== undefined && (v.portMin !== undefined || v.portMax !== undefined))
      ctx.addIssue({ code: 'custom', path: ['ports'], message: 'ports and portMin/portMax exclude each other' });
    if ((v.portMin !== undefined || v.portMax !== undefined || v.ports !== undefined) && v.proto !== 'tcp' && v.proto !== 'udp')
      ctx.addIssue({ code: 'custom', path: [v.ports ? 'ports' : 'portMin'], message: `ports need proto tcp or udp (not ${v.proto})` });
    if (v.portMin === undefined && v.portMax !== undefined)
      ctx.addIssue({ code: 'custom', path: ['portMin'], message: 'portMax without portMin' });
    if (v.portMin !== undefined && v.portMax !== undefined && v.portMax < v.portMin)
      ctx.addIssue({ code: 'custom', path: ['portMax'], message: `portMax ${v.portMax} below portMin ${v.portMin}` });
  })
  .transform(({ ports, ...v }) => {
    const ranges = ports ? portRanges(ports) : v.portMin !== undefined ? portRanges([`${v.portMin}-${v.portMax ?? v.portMin}`]) : undefined;
    return { ...v, ranges, portMin: ranges?.[0][0], portMax: ranges?.[ranges.length - 1][1] };
  });
export type SecurityRuleCreate = z.output<typeof SecurityRuleCreate>;

/** A container's groups in `POST …/containers` and PATCH (names of the container's tenant; [] or null: `default`). */
export const ContainerGroups = z.array(Name).max(MAX_GROUPS_PER_CONTAINER);
