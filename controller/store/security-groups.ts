import type { Queryable } from './db.js';
import {
  MAX_RULES_PER_GROUP,
  portEntries,
  type PortRange,
  type SecurityGroupCreate,
  type SecurityRuleCreate,
} from '../../protocol/security-groups.js';
import { ApiError } from '../errors.js';
import { decodeCursor, toPage, type Page } from './paging.js';
import type { Tenant } from './tenants.js';

/** A rule as the API shows it: remote is a CIDR, a group of the tenant, or any address (both null). */
export interface SecurityRule {
  id: string;
  direction: 'ingress' | 'egress';
  proto: 'tcp' | 'udp' | 'icmp' | 'any';
  /** the lowest and highest port (the whole set when it is one range); null: any port */
  portMin: number | null;
  portMax: number | null;
  /** the exact set: a number per port, `FIRST-LAST` per range; null: any port */
  ports: Array<number | string> | null;
  remoteCidr: string | null;
  remoteGroup: string | null;
}
export interface SecurityGroup {
  tenant: string;
  name: string;
  description: string | null;
  rules: SecurityRule[];
  /** containers whose effective groups include this one (the tenant's default: those listing none) */
  members: string[];
  createdAt: string;
}
interface Row {
  id: string;
  tenant: string;
  name: string;
  description: string | null;
  created_at: Date | string;
  rules: SecurityRule[] | string | null;
  members: string[] | null;
}
/** A rule's port set as [[first, last], …] (null: any port). */
export const PORTS_JSON = `(SELECT json_agg(json_build_array(lower(x), upper(x) - 1) ORDER BY x) FROM unnest(r.ports) x)`;
const SELECT = `
  SELECT g.id, t.name AS tenant, g.name, g.description, g.created_at,
         (SELECT json_agg(json_build_object('id', r.id, 'direction', r.direction, 'proto', r.proto, 'portMin', r.port_min,
                                            'portMax', r.port_max, 'ports', ${PORTS_JSON},
                                            'remoteCidr', r.remote_cidr::text, 'remoteGroup', rg.name)
                          ORDER BY r.direction, r.created_at, r.id)
            FROM security_group_rules r LEFT JOIN security_groups rg ON rg.id = r.remote_group_id WHERE r.group_id = g.id) AS rules,
         ARRAY(SELECT c.name FROM containers c WHERE c.tenant_id = g.tenant_id AND c.kind = 'container'
                  AND g.id = ANY(freight_effective_groups(c.id)) ORDER BY c.name) AS members
    FROM security_groups g JOIN tenants t ON t.id = g.tenant_id`;
const toGroup = (r: Row): SecurityGroup => ({
  tenant: r.tenant,
  name: r.name,
  description: r.description,
  rules: (typeof r.rules === 'string' ? (JSON.parse(r.rules) as SecurityRule[]) : (r.rules ?? [])).map((x) => ({
    ...x,
    portMin: x.portMin === null ? null : Number(x.portMin),
    portMax: x.portMax === null ? null : Number(x.portMax),
    ports: x.ports === null ? null : portEntries(x.ports as unknown as PortRange[]),
  })),
  members: r.members ?? [],
  createdAt: new Date(r.created_at).toISOString(),
});

export const DEFAULT_GROUP = 'default';

const notFound = (op: string, t: Tenant, name: string, path?: string) =>
  new ApiError('security_group_not_found', `${op}: security group ${name} not found in tenant ${t.name}`, path);

export async function getSecurityGroup(q: Queryable, t: Tenant, name: string, op: string): Promise<SecurityGroup> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE g.tenant_id = $1 AND g.name = $2`, [t.id, name]);
  if (!rows[0]) throw notFound(op, t, name);
  return toGroup(rows[0]);
}

export async function listSecurityGroups(q: Queryable, t: Tenant, limit: number, after?: string): Promise<Page<SecurityGroup>> {
  const cur = decodeCursor(after, 1);
  const { rows } = await q.query<Row>(`${SELECT} WHERE g.tenant_id = $1 AND ($2::text IS NULL OR g.name > $2) ORDER BY g.name LIMIT $3`, [
    t.id,
    cur?.[0] ?? null,
    limit + 1,
  ]);
  return toPage(rows, limit, (r) => [r.name], toGroup);
}

export async function createSecurityGroup(q: Queryable, t: Tenant, body: SecurityGroupCreate, op: string): Promise<SecurityGroup> {
  await q.query('INSERT INTO security_groups (tenant_id, name, description) VALUES ($1, $2, $3)', [
    t.id,
    body.name,
    body.description ?? null,
  ]);
  return getSecurityGroup(q, t, body.name, op);
}

/** Deletes a group no container lists and no other group's rule names (409 in_use naming them). */
export async function deleteSecurityGroup(q: Queryable, t: Tenant, name: string, op: string): Promise<void> {
  if (name === DEFAULT_GROUP) throw new ApiError('in_use', `${op}: the default group is the group of every container listing none`);
  const { rows } = await q.query<{ id: string }>('SELECT id FROM security_groups WHERE tenant_id = $1 AND name = $2 FOR UPDATE', [
    t.id,
    name,
  ]);
  if (!rows[0]) throw notFound(op, t, name);
  const users = await q.query<{ what: string }>(
    `SELECT 'container ' || c.name AS what FROM container_security_groups m JOIN containers c ON c.id = m.container_id WHERE m.group_id = $1
     UNION ALL
     SELECT 'rule of group ' || g.name FROM security_group_rules r JOIN security_groups g ON g.id = r.group_id
      WHERE r.remote_group_id = $1 AND r.group_id <> $1
     ORDER BY 1 LIMIT 5`,
    [rows[0].id],
  );
  if (users.rows.length > 0) throw new ApiError('in_use', `${op}: still used by ${users.rows.map((u) => u.what).join(', ')}`);
  await q.query('DELETE FROM security_groups WHERE id = $1', [rows[0].id]);
}

/** Resolves `name` or `tenant/name` to a group id of tenant `t`; another tenant's is refused whatever it is. */
async function remoteGroupId(q: Queryable, t: Tenant, ref: string, op: string): Promise<string> {
  const [tenant, name] = ref.includes('/') ? ref.split('/') : [t.name, ref];
  if (tenant !== t.name)
    throw new ApiError('cross_tenant_group', `${op}: remote group ${ref} is not a group of tenant ${t.name}`, 'remoteGroup');
  const { rows } = await q.query<{ id: string }>('SELECT id FROM security_groups WHERE tenant_id = $1 AND name = $2', [t.id, name]);
  if (!rows[0]) throw notFound(op, t, name, 'remoteGroup');
  return rows[0].id;
}

/** `{[80,80],[443,443]}`: numbers the schema checked, so the literal is data. */
const multirange = (ranges: PortRange[]) => `{${ranges.map(([a, b]) => `[${Number(a)},${Number(b)}]`).join(',')}}`;

export async function addSecurityRule(q: Queryable, t: Tenant, group: string, body: SecurityRuleCreate, op: string): Promise<SecurityRule> {
  const { rows } = await q.query<{ id: string; n: string }>(
    `SELECT g.id, (SELECT count(*) FROM security_group_rules r WHERE r.group_id = g.id) AS n
       FROM security_groups g WHERE g.tenant_id = $1 AND g.name = $2 FOR UPDATE`,
    [t.id, group],
  );
  if (!rows[0]) throw notFound(op, t, group);
  if (Number(rows[0].n) >= MAX_RULES_PER_GROUP)
    throw new ApiError('too_many_rules', `${op}: group ${group} has ${MAX_RULES_PER_GROUP} rules`);
  const remote = body.remoteGroup === undefined ? null : await remoteGroupId(q, t, body.remoteGroup, op);
  const ins = await q.query<{ id: string }>(
    `INSERT INTO security_group_rules (group_id, tenant_id, direction, proto, port_min, port_max, ports, remote_cidr, remote_group_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7::int4multirange, $8::cidr, $9) RETURNING id`,
    [
      rows[0].id,
      t.id,
      body.direction,
      body.proto,
      body.portMin ?? null,
      body.portMax ?? null,
      body.ranges ? multirange(body.ranges) : null,
      body.remoteCidr ?? null,
      remote,
    ],
  );
  const g = await getSecurityGroup(q, t, group, op);
  return g.rules.find((r) => r.id === ins.rows[0].id)!;
}

export async function deleteSecurityRule(q: Queryable, t: Tenant, group: string, rule: string, op: string): Promise<void> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(rule))
    throw new ApiError('security_rule_not_found', `${op}: rule ${rule} not found in group ${group}`);
  await getSecurityGroup(q, t, group, op);
  const { rows } = await q.query(
    `DELETE FROM security_group_rules r USING security_groups g
      WHERE r.id = $3 AND r.group_id = g.id AND g.tenant_id = $1 AND g.name = $2 RETURNING r.id`,
    [t.id, group, rule],
  );
  if (!rows[0]) throw new ApiError('security_rule_not_found', `${op}: rule ${rule} not found in group ${group}`);
}

/**
 * Resolves a container's group names (of its tenant) to ids: [] and exactly [`default`] both mean
 * the tenant's default, stored as no membership (one rule: no membership = default).
 */
export async function resolveGroups(q: Queryable, t: Tenant, names: string[], op: string): Promise<{ ids: string[]; names: string[] }> {
  const wanted = [...new Set(names)].sort();
  if (wanted.length === 0 || (wanted.length === 1 && wanted[0] === DEFAULT_GROUP)) return { ids: [], names: [DEFAULT_GROUP] };
  const { rows } = await q.query<{ id: string; name: string }>(
    'SELECT id, name FROM security_groups WHERE tenant_id = $1 AND name = ANY($2)',
    [t.id, wanted],
  );
  const missing = wanted.find((n) => !rows.some((r) => r.name === n));
  if (missing !== undefined) throw notFound(op, t, missing, `securityGroups.${names.indexOf(missing)}`);
  return { ids: rows.map((r) => r.id), names: wanted };
}

export async function insertMemberships(q: Queryable, t: Tenant, containerId: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `INSERT INTO container_security_groups (container_id, group_id, tenant_id) SELECT $1, x, $3 FROM unnest($2::uuid[]) x
     ON CONFLICT DO NOTHING`,
    [containerId, ids, t.id],
  );
}

/** Replaces a container's groups, writing only the difference (an unchanged list logs nothing). */
export async function setContainerGroups(q: Queryable, t: Tenant, containerId: string, names: string[], op: string): Promise<void> {
  const { ids } = await resolveGroups(q, t, names, op);
  await q.query('DELETE FROM container_security_groups WHERE container_id = $1 AND NOT (group_id = ANY($2::uuid[]))', [containerId, ids]);
  await insertMemberships(q, t, containerId, ids);
}

/** The names of a container's explicit groups (empty: the default), for PATCH's current settings. */
export async function listedGroups(q: Queryable, containerId: string): Promise<string[]> {
  const { rows } = await q.query<{ name: string }>(
    'SELECT g.name FROM container_security_groups m JOIN security_groups g ON g.id = m.group_id WHERE m.container_id = $1 ORDER BY g.name',
    [containerId],
  );
  return rows.map((r) => r.name);
}

/** The names of a container's effective groups, for container show. */
export const GROUP_NAMES_SQL = `ARRAY(SELECT g.name FROM security_groups g
  WHERE g.id = ANY(freight_effective_groups(c.id)) ORDER BY g.name)`;

/** The nodes hosting members of a group (where its rules are installed), by name. */
export async function groupNodes(q: Queryable, t: Tenant, name: string): Promise<string[]> {
  const { rows } = await q.query<{ name: string }>(
    `SELECT DISTINCT n.name FROM containers c JOIN nodes n ON n.id = c.node_id JOIN security_groups g ON g.tenant_id = c.tenant_id
      WHERE c.tenant_id = $1 AND g.name = $2 AND c.kind = 'container' AND g.id = ANY(freight_effective_groups(c.id)) ORDER BY n.name`,
    [t.id, name],
  );
  return rows.map((r) => r.name);
}

/** Groups by id, as the API shows them (the events stream's loader). */
export async function securityGroupsByIds(q: Queryable, ids: string[]): Promise<Array<SecurityGroup & { id: string }>> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE g.id = ANY($1::uuid[])`, [ids]);
  return rows.map((r) => ({ id: r.id, ...toGroup(r) }));
}
