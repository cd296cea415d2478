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

/** `POST /v1/tenants/:tenant/security-groups/:group/rules`. */
export const SecurityRuleCreate = z
  .object({
    direction: z.enum(SG_DIRECTIONS),
    proto: z.enum(SG_PROTOS).default('any'),
    portMin: z.number().int().min(1).max(65535).optional().describe('tcp/udp only; with portMax a range, alone one port'),
    portMax: z.number().int().min(1).max(65535).optional(),
    remoteCidr: RemoteCidr.optional().describe('the peer address range (default: any address)'),
    remoteGroup: GroupRef.optional().describe('the peers are the members of this group of the same tenant'),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.remoteCidr !== undefined && v.remoteGroup !== undefined)
      ctx.addIssue({ code: 'custom', path: ['remoteGroup'], message: 'remoteCidr and remoteGroup exclude each other' });
    if ((v.portMin !== undefined || v.portMax !== undefined) && v.proto !== 'tcp' && v.proto !== 'udp')
      ctx.addIssue({ code: 'custom', path: ['portMin'], message: `ports need proto tcp or udp (not ${v.proto})` });
    if (v.portMin === undefined && v.portMax !== undefined)
      ctx.addIssue({ code: 'custom', path: ['portMin'], message: 'portMax without portMin' });
    if (v.portMin !== undefined && v.portMax !== undefined && v.portMax < v.portMin)
      ctx.addIssue({ code: 'custom', path: ['portMax'], message: `portMax ${v.portMax} below portMin ${v.portMin}` });
  })
  .transform((v) => ({ ...v, portMax: v.portMin === undefined ? undefined : (v.portMax ?? v.portMin) }));
export type SecurityRuleCreate = z.output<typeof SecurityRuleCreate>;

/** A container's groups in `POST …/containers` and PATCH (names of the container's tenant; [] or null: `default`). */
export const ContainerGroups = z.array(Name).max(MAX_GROUPS_PER_CONTAINER);
