import { type z } from 'zod';
import { Page, SecurityGroupResponse, SecurityGroupStatsResponse, SecurityRuleResponse } from '../../protocol/responses.js';
import { Pagination } from '../../protocol/api.js';
import { SecurityGroupCreate, SecurityRuleCreate } from '../../protocol/security-groups.js';
import {
  addSecurityRule,
  createSecurityGroup,
  deleteSecurityGroup,
  deleteSecurityRule,
  getSecurityGroup,
  groupNodes,
  listSecurityGroups,
} from '../store/security-groups.js';
import { route } from './route.js';

const BASE = '/v1/tenants/:tenant/security-groups';

/** Security groups (docs/security.md "Security groups"): tenant tokens manage their own. */
export const securityGroupRoutes = [
  route<SecurityGroupCreate>({
    method: 'POST',
    url: BASE,
    response: SecurityGroupResponse,
    summary: 'create a security group (no rules: its members accept nothing but replies, DHCP and DNS, and send nothing)',
    op: 'create security group',
    target: ({ params, body }) => `${params.tenant}/${body.name}`,
    auth: 'any',
    body: SecurityGroupCreate,
    status: 201,
    handler: ({ body, tenant, op, deps }) => deps.db.tx(async (q) => createSecurityGroup(q, tenant, body, op)),
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: BASE,
    response: Page(SecurityGroupResponse),
    summary: "list a tenant's security groups with their rules and members",
    op: 'list security groups',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    query: Pagination,
    handler: async ({ query, tenant, deps }) => listSecurityGroups(deps.db, tenant, query.limit, query.after),
  }),
  route({
    method: 'GET',
    url: `${BASE}/:group`,
    response: SecurityGroupResponse,
    summary: 'show a security group, its rules and its members',
    op: 'get security group',
    target: ({ params }) => `${params.tenant}/${params.group}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => getSecurityGroup(deps.db, tenant, params.group, op),
  }),
  route({
    method: 'GET',
    url: `${BASE}/:group/stats`,
    summary: "per-rule packets and bytes, summed over the nodes hosting the group's members (asked over their streams)",
    op: 'security group stats',
    target: ({ params }) => `${params.tenant}/${params.group}`,
    response: SecurityGroupStatsResponse,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      const g = await getSecurityGroup(deps.db, tenant, params.group, op);
      const nodes = await groupNodes(deps.db, tenant, params.group);
      const rules: Record<string, { packets: number; bytes: number }> = Object.fromEntries(
        g.rules.map((r) => [r.id, { packets: 0, bytes: 0 }]),
      );
      const missing: string[] = [];
      await Promise.all(
        nodes.map(async (node) => {
          try {
            if (!deps.push.requestSgStats) throw new Error('no push hub');
            const got = await deps.push.requestSgStats(node, Object.keys(rules));
            for (const [id, c] of Object.entries(got)) {
              if (!rules[id]) continue;
              rules[id].packets += c.packets;
              rules[id].bytes += c.bytes;
            }
          } catch {
            missing.push(node); // not connected to this replica, or slow: the sums lack its share, and say so
          }
        }),
      );
      return { group: g.name, nodes: nodes.filter((n) => !missing.includes(n)), missing: missing.sort(), rules };
    },
  }),
  route({
    method: 'DELETE',
    url: `${BASE}/:group`,
    response: null,
    errors: ['in_use'],
    summary: 'delete a security group no container lists and no other rule names (the default group stays)',
    op: 'delete security group',
    target: ({ params }) => `${params.tenant}/${params.group}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      await deps.db.tx(async (q) => deleteSecurityGroup(q, tenant, params.group, op));
      return undefined;
    },
  }),
  route<SecurityRuleCreate>({
    method: 'POST',
    url: `${BASE}/:group/rules`,
    response: SecurityRuleResponse,
    errors: ['cross_tenant_group', 'too_many_rules'],
    summary: 'add a rule: direction, proto (tcp|udp|icmp|any), ports (tcp/udp), remote CIDR or remote group of the tenant (default any)',
    op: 'add security rule',
    describe: ({ params, body }) => `add ${body.direction} rule to security group ${params.tenant}/${params.group}`,
    auth: 'any',
    body: SecurityRuleCreate,
    status: 201,
    handler: ({ params, body, tenant, op, deps }) => deps.db.tx(async (q) => addSecurityRule(q, tenant, params.group, body, op)),
  }),
  route({
    method: 'DELETE',
    url: `${BASE}/:group/rules/:rule`,
    response: null,
    summary: 'delete a rule (connections it admitted keep flowing: docs/security.md)',
    op: 'delete security rule',
    target: ({ params }) => `${params.tenant}/${params.group} rule ${params.rule}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      await deps.db.tx(async (q) => deleteSecurityRule(q, tenant, params.group, params.rule, op));
      return undefined;
    },
  }),
];
