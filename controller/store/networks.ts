import type { Queryable } from './db.js';
import type { NetworkCreate } from '../../protocol/api.js';
import { DEFAULT_GENEVE_PORT, DEFAULT_VXLAN_PORT, type AddressPool, type NetworkParams } from '../../protocol/network-params.js';
import type { DhcpOptions, Labels } from '../../protocol/meta.js';
import { DEFAULT_DOMAIN } from '../../protocol/common.js';
import { ApiError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { infraAddress, macFor, randomMac } from '../ipam.js';
import { chooseNode, nodeLoads, unplacedReason } from '../scheduler.js';
import { allocateVni, insertEndpoint } from './alloc.js';
import { filterSql, type ListFilter } from './filters.js';
import { decodeCursor, toPage, type Page } from './paging.js';
import type { Tenant } from './tenants.js';
import { LOCKS, xactLock } from './locks.js';

export interface Network {
  id: string;
  tenant: string;
  name: string;
  type: string;
  /** null for physical networks */
  vni: number | null;
  params: NetworkParams;
  cidr: string;
  gateway: string | null;
  /** allocation pools (empty: the whole host range) */
  pools: AddressPool[];
  dhcp: boolean;
  /** an external network: every tenant may name it for router gateways and floating IPs */
  external: boolean;
  mtu: number | null;
  domain: string;
  infra: { name: string; ip: string; mac: string; node: string | null } | null;
  description: string | null;
  labels: Labels;
  dhcpOptions: DhcpOptions;
  /** null: the agent's --dns-upstream */
  dnsUpstreams: string[] | null;
  createdAt: string;
  updatedAt: string;
}
interface Row {
  id: string;
  tenant: string;
  name: string;
  type: string;
  vni: number | null;
  tunnel_port: number | null;
  rotate_hours: number | null;
  physical_network: string | null;
  vlan: number | null;
  dhcp: boolean;
  pools: Array<{ start: string; end: string }> | string | null;
  cidr: string;
  gateway: string | null;
  mtu: number | null;
  domain: string;
  description: string | null;
  labels: Labels;
  dhcp_options: DhcpOptions;
  dns_upstreams: string[] | null;
  created_at: Date | string;
  updated_at: Date | string;
  external: boolean;
  infra_name: string | null;
  infra_ip: string | null;
  infra_mac: string | null;
  infra_node: string | null;
}
const SELECT = `
  SELECT n.id, t.name AS tenant, n.name, n.type, n.vni, n.tunnel_port, n.rotate_hours, n.physical_network, n.vlan, n.dhcp,
         (SELECT json_agg(json_build_object('start', host(p.first_ip), 'end', host(p.last_ip)) ORDER BY p.first_ip)
            FROM network_pools p WHERE p.network_id = n.id) AS pools,
         n.cidr::text AS cidr, host(n.gateway) AS gateway, n.mtu, n.domain, n.created_at,
         n.description, n.labels, n.dhcp_options, n.dns_upstreams, n.updated_at, n.external,
         c.name AS infra_name, host(e.ip) AS infra_ip, e.mac::text AS infra_mac, nd.name AS infra_node
    FROM networks n JOIN tenants t ON t.id = n.tenant_id
    LEFT JOIN containers c ON c.network_id = n.id AND c.kind = 'infra'
    LEFT JOIN endpoints e ON e.container_id = c.id
    LEFT JOIN nodes nd ON nd.id = c.node_id`;
const toNetwork = (r: Row): Network => ({
  id: r.id,
  tenant: r.tenant,
  name: r.name,
  type: r.type,
  vni: r.vni === null ? null : Number(r.vni),
  params: paramsOf(r),
  cidr: r.cidr,
  gateway: r.gateway,
  pools: (typeof r.pools === 'string' ? (JSON.parse(r.pools) as AddressPool[]) : r.pools) ?? [],
  dhcp: r.dhcp,
  external: r.external,
  mtu: r.mtu,
  domain: r.domain,
  infra: r.infra_ip ? { name: r.infra_name!, ip: r.infra_ip, mac: r.infra_mac!, node: r.infra_node } : null,
  description: r.description,
  labels: r.labels ?? {},
  dhcpOptions: r.dhcp_options ?? {},
  dnsUpstreams: r.dns_upstreams,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

const DEFAULT_PORT = { vxlan: DEFAULT_VXLAN_PORT, geneve: DEFAULT_GENEVE_PORT };

/** The typed parameters from their columns (schema.sql networks_params: exactly the type's are set). */
export function paramsOf(r: Pick<Row, 'type' | 'tunnel_port' | 'rotate_hours' | 'physical_network' | 'vlan'>): NetworkParams {
  switch (r.type) {
    case 'vxlan':
    case 'geneve':
      return { type: r.type, port: r.tunnel_port === null ? DEFAULT_PORT[r.type] : Number(r.tunnel_port) };
    case 'ipsec':
      return r.rotate_hours === null ? { type: 'ipsec' } : { type: 'ipsec', rotateHours: Number(r.rotate_hours) };
    default:
      return r.vlan === null
        ? { type: 'physical', physicalNetwork: r.physical_network! }
        : { type: 'physical', physicalNetwork: r.physical_network!, vlan: Number(r.vlan) };
  }
}

/** The params' columns: tunnel_port, rotate_hours, physical_network, vlan. */
function paramColumns(p: NetworkParams): [number | null, number | null, string | null, number | null] {
  if (p.type === 'vxlan' || p.type === 'geneve') return [p.port, null, null, null];
  if (p.type === 'ipsec') return [null, p.rotateHours ?? null, null, null];
  return [null, null, p.physicalNetwork, p.vlan ?? null];
}

/** `infra-<network>`, cut to the 63-character name limit. */
export const infraName = (network: string) => `infra-${network}`.slice(0, 63).replace(/-+$/, '');

export async function getNetwork(q: Queryable, t: Tenant, name: string, op: string): Promise<Network> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE n.tenant_id = $1 AND n.name = $2`, [t.id, name]);
  if (!rows[0]) throw new ApiError('network_not_found', `${op}: network ${name} not found in tenant ${t.name}`);
  return toNetwork(rows[0]);
}

export async function listNetworks(q: Queryable, t: Tenant, limit: number, after?: string, filter?: ListFilter): Promise<Page<Network>> {
  const cur = decodeCursor(after, 1);
  const params: unknown[] = [t.id, cur?.[0] ?? null, limit + 1];
  const where = filterSql(filter, 'n.labels', { type: 'n.type = $?', domain: 'n.domain = $?' }, params);
  const { rows } = await q.query<Row>(
    `${SELECT} WHERE n.tenant_id = $1 AND ($2::text IS NULL OR n.name > $2)${where} ORDER BY n.name LIMIT $3`,
    params,
  );
  return toPage(rows, limit, (r) => [r.name], toNetwork);
}

/**
 * 409 overlap naming the tenant's network the CIDR overlaps (the networks_no_overlap constraint
 * still decides a race between two creates; its message names no network).
 */
async function assertNoOverlap(q: Queryable, t: Tenant, cidr: string, op: string): Promise<void> {
  const { rows } = await q.query<{ name: string; cidr: string }>(
    'SELECT name, cidr::text AS cidr FROM networks WHERE tenant_id = $1 AND cidr && $2::cidr ORDER BY name LIMIT 1',
    [t.id, cidr],
  );
  if (rows[0])
    throw new ApiError('overlap', `${op}: cidr ${cidr} overlaps network ${rows[0].name} (${rows[0].cidr}) of tenant ${t.name}`, 'cidr');
}

/** Creates the network and, in the same transaction, its scheduled infra instance on the reserved address. */
export async function createNetwork(q: Queryable, t: Tenant, body: NetworkCreate, op: string): Promise<Network> {
  const physical = body.params.type === 'physical' ? body.params.physicalNetwork : undefined;
  // VNI choice, one at a time, also for an admin's chosen VNI: an allocated one then never
  // collides, and a tenant never hears of another network's VNI
  let vni: number | null = null;
  if (physical === undefined) {
    await q.query(xactLock(LOCKS.VNI));
    vni = body.vni ?? (await allocateVni(q, op));
  }
  await assertNoOverlap(q, t, body.cidr, op);
  const { rows } = await q.query<{ id: string }>(
    `INSERT INTO networks (tenant_id, name, type, vni, cidr, gateway, mtu, domain, tunnel_port, rotate_hours, physical_network, vlan, dhcp,
                           description, labels, dhcp_options, dns_upstreams, external)
     VALUES ($1, $2, $3, $4, $5::cidr, $6::inet, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16::jsonb, $17::text[], $18)
     RETURNING id`,
    [
      t.id,
      body.name,
      body.type,
      vni,
      body.cidr,
      body.gateway ?? null,
      body.mtu ?? null,
      body.domain ?? DEFAULT_DOMAIN,
      ...paramColumns(body.params),
      body.dhcp,
      body.description ?? null,
      JSON.stringify(body.labels ?? {}),
      JSON.stringify(body.dhcpOptions ?? {}),
      body.dnsUpstreams ?? null,
      body.external,
    ],
  );
  const networkId = rows[0].id;
  const pools = body.pools ?? [];
  if (pools.length)
    await q.query(
      `INSERT INTO network_pools (network_id, tenant_id, first_ip, last_ip)
       SELECT $1, $2, a, b FROM unnest($3::inet[], $4::inet[]) AS x(a, b)`,
      [networkId, t.id, pools.map((p) => p.start), pools.map((p) => p.end)],
    );
  const needs = physical === undefined ? [] : [physical];
  const node = chooseNode(await nodeLoads(q, true), needs);
  const infra = await q.query<{ id: string }>(
    `INSERT INTO containers (tenant_id, name, kind, network_id, image, command, restart, node_id, reason)
     VALUES ($1, $2, 'infra', $3, 'freight-infra', '{}', 'always', $4, $5) RETURNING id`,
    [t.id, infraName(body.name), networkId, node?.id ?? null, node ? null : unplacedReason(needs)],
  );
  const ip = infraAddress(body.cidr, body.gateway, pools);
  await insertEndpoint(q, {
    tenantId: t.id,
    networkId,
    containerId: infra.rows[0].id,
    ifindex: 0,
    ip,
    mac: vni === null ? randomMac(randomBytes(5)) : macFor(vni, ip),
    nodeId: node?.id ?? null,
  });
  if (physical !== undefined) await admitSegment(q, t, body.cidr);
  return getNetwork(q, t, body.name, op);
}

/**
 * A physical network's bare-metal side (servers, routers of the segment) can join no group: the
 * tenant's default group gets a visible, deletable rule admitting ingress from the network's
 * CIDR (docs/security.md "Defaults").
 */
async function admitSegment(q: Queryable, t: Tenant, cidr: string): Promise<void> {
  await q.query(
    `INSERT INTO security_group_rules (group_id, tenant_id, direction, proto, remote_cidr)
     SELECT g.id, g.tenant_id, 'ingress', 'any', $2::cidr FROM security_groups g WHERE g.tenant_id = $1 AND g.name = 'default'
     ON CONFLICT DO NOTHING`,
    [t.id, cidr],
  );
}

/** Deletes a network with no containers attached other than its infra instance (which goes with it). */
export async function deleteNetwork(q: Queryable, t: Tenant, name: string, op: string): Promise<void> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM networks WHERE tenant_id = $1 AND name = $2 FOR UPDATE', [t.id, name]);
  if (!rows[0]) throw new ApiError('network_not_found', `${op}: network ${name} not found in tenant ${t.name}`);
  const used = await q.query<{ n: string; names: string[] | null }>(
    `SELECT count(*) AS n, (array_agg(c.name ORDER BY c.name))[1:5] AS names
       FROM endpoints e JOIN containers c ON c.id = e.container_id
      WHERE e.network_id = $1 AND c.kind = 'container'`,
    [rows[0].id],
  );
  const n = Number(used.rows[0].n);
  if (n > 0) throw new ApiError('in_use', `${op}: ${n} containers still attached (${(used.rows[0].names ?? []).join(', ')})`);
  await q.query('DELETE FROM networks WHERE id = $1', [rows[0].id]);
}

/** Records a key rotation request for an ipsec network and wakes the key manager (channel freight_keys). */
export async function requestKeyRotation(
  q: Queryable,
  t: Tenant,
  name: string,
  op: string,
): Promise<{ network: string; requestedAt: string }> {
  const { rows } = await q.query<{ id: string; type: string }>('SELECT id, type FROM networks WHERE tenant_id = $1 AND name = $2', [
    t.id,
    name,
  ]);
  if (!rows[0]) throw new ApiError('network_not_found', `${op}: network ${name} not found in tenant ${t.name}`);
  if (rows[0].type !== 'ipsec') throw new ApiError('invalid', `${op}: network ${name} is ${rows[0].type}, only ipsec networks have keys`);
  const r = await q.query<{ requested_at: Date | string }>(
    `INSERT INTO ipsec_rotations (network_id, tenant_id) VALUES ($1, $2)
     ON CONFLICT (network_id) DO UPDATE SET requested_at = now() RETURNING requested_at`,
    [rows[0].id, t.id],
  );
  await q.query("SELECT pg_notify('freight_keys', $1)", [rows[0].id]);
  return { network: name, requestedAt: new Date(r.rows[0].requested_at).toISOString() };
}

/** Networks by id, as the API shows them: the events stream's loader. */
export async function networksByIds(q: Queryable, ids: string[]): Promise<Network[]> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE n.id = ANY($1::uuid[])`, [ids]);
  return rows.map(toNetwork);
}
