import type { Queryable } from './db.js';
import type { FloatingIpCreate } from '../../protocol/api.js';
import { ApiError } from '../errors.js';
import { decodeCursor, toPage, type Page } from './paging.js';
import { externalNetworkId } from './routers.js';
import type { Tenant } from './tenants.js';

/**
 * Floating IPs (docs/api.md "Floating IPs"), like Neutron's: an address of an external physical
 * network allocated to a tenant, associated to at most one of its containers, whose network must
 * be attached to a router with that external network. The container's node does one-to-one NAT.
 */
export interface FloatingIp {
  id: string;
  tenant: string;
  /** the external network, TENANT/NAME */
  network: string;
  ip: string;
  /** the associated container (null: none) and the node that answers for the address */
  container: string | null;
  node: string | null;
  createdAt: string;
}
interface Row {
  id: string;
  tenant: string;
  network: string | null;
  ip: string;
  container: string | null;
  node: string | null;
  created_at: Date | string;
}
const SELECT = `
  SELECT f.id, t.name AS tenant, freight_external_name(f.network_id) AS network, host(f.ip) AS ip,
         c.name AS container, nd.name AS node, f.created_at
    FROM floating_ips f JOIN tenants t ON t.id = f.tenant_id
    LEFT JOIN containers c ON c.id = f.container_id LEFT JOIN nodes nd ON nd.id = c.node_id`;
const toFip = (r: Row): FloatingIp => ({
  id: r.id,
  tenant: r.tenant,
  network: r.network ?? '',
  ip: r.ip,
  container: r.container,
  node: r.node,
  createdAt: new Date(r.created_at).toISOString(),
});

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IP_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The tenant's floating IP by address or id, locked when `lock`; 404 floating_ip_not_found. */
async function find(q: Queryable, t: Tenant, ref: string, op: string, lock = false): Promise<Row & { container_id: string | null }> {
  const by = UUID_RE.test(ref) ? 'f.id = $2::uuid' : IP_RE.test(ref) ? 'f.ip = $2::inet' : null;
  const { rows } = by
    ? await q.query<Row & { container_id: string | null }>(
        `${SELECT.replace('c.name AS container,', 'c.name AS container, f.container_id,')} WHERE f.tenant_id = $1 AND ${by}
          ORDER BY f.created_at${lock ? ' FOR UPDATE OF f' : ''}`,
        [t.id, ref],
      )
    : { rows: [] };
  if (!rows[0]) throw new ApiError('floating_ip_not_found', `${op}: floating IP ${ref} not found in tenant ${t.name}`);
  if (rows.length > 1) throw new ApiError('invalid', `${op}: ${ref} names several floating IPs (on different networks): use the id`);
  return rows[0];
}

export async function getFloatingIp(q: Queryable, t: Tenant, ref: string, op: string): Promise<FloatingIp> {
  return toFip(await find(q, t, ref, op));
}

export async function listFloatingIps(q: Queryable, t: Tenant, limit: number, after?: string): Promise<Page<FloatingIp>> {
  const cur = decodeCursor(after, 1);
  const { rows } = await q.query<Row>(`${SELECT} WHERE f.tenant_id = $1 AND ($2::uuid IS NULL OR f.id > $2::uuid) ORDER BY f.id LIMIT $3`, [
    t.id,
    cur?.[0] ?? null,
    limit + 1,
  ]);
  return toPage(rows, limit, (r) => [r.id], toFip);
}

/** Allocates an address of the external network's pools (the given one if free) to the tenant. */
export async function createFloatingIp(q: Queryable, t: Tenant, body: FloatingIpCreate, op: string): Promise<FloatingIp> {
  const net = await externalNetworkId(q, body.network, op, 'network');
  const { rows } = await q.query<{ a: string | null }>('SELECT host(freight_external_alloc($1, $2::inet)) AS a', [net, body.ip ?? null]);
  const ip = rows[0]?.a ?? null;
  if (ip === null && body.ip)
    throw new ApiError('conflict', `${op}: ${body.ip} is not a free address of the pools of ${body.network}`, 'ip');
  if (ip === null) throw new ApiError('pool_exhausted', `${op}: external network ${body.network} has no free address`);
  const { rows: made } = await q.query<{ id: string }>(
    'INSERT INTO floating_ips (tenant_id, network_id, ip) VALUES ($1, $2, $3::inet) RETURNING id',
    [t.id, net, ip],
  );
  return getFloatingIp(q, t, made[0].id, op);
}

/**
 * Associates the floating IP to one of the tenant's containers: a container with a network on a
 * router whose external network is the address's. Associated elsewhere: 409 floating_ip_associated
 * (disassociate first); the same container again: no change.
 */
export async function associateFloatingIp(q: Queryable, t: Tenant, ref: string, container: string, op: string): Promise<FloatingIp> {
  const f = await find(q, t, ref, op, true);
  const { rows } = await q.query<{ id: string; routed: boolean }>(
    `SELECT c.id, EXISTS (SELECT 1 FROM endpoints e JOIN networks n ON n.id = e.network_id JOIN routers r ON r.id = n.router_id
                           JOIN floating_ips x ON x.network_id = r.external_network_id
                          WHERE e.container_id = c.id AND x.id = $3) AS routed
       FROM containers c WHERE c.tenant_id = $1 AND c.name = $2 AND c.kind = 'container'`,
    [t.id, container, f.id],
  );
  const c = rows[0];
  if (!c) throw new ApiError('container_not_found', `${op}: container ${container} not found in tenant ${t.name}`, 'container');
  if (f.container_id === c.id) return toFip(f);
  if (f.container_id !== null)
    throw new ApiError('floating_ip_associated', `${op}: ${f.ip} is associated to container ${f.container}; disassociate it first`);
  if (!c.routed)
    throw new ApiError(
      'invalid',
      `${op}: container ${container} has no network on a router with external network ${f.network} ` +
        '(freightctl router set --external-network)',
      'container',
    );
  await q.query('UPDATE floating_ips SET container_id = $2 WHERE id = $1', [f.id, c.id]);
  return getFloatingIp(q, t, f.id, op);
}

export async function disassociateFloatingIp(q: Queryable, t: Tenant, ref: string, op: string): Promise<FloatingIp> {
  const f = await find(q, t, ref, op, true);
  if (f.container_id !== null) await q.query('UPDATE floating_ips SET container_id = NULL WHERE id = $1', [f.id]);
  return getFloatingIp(q, t, f.id, op);
}

/** Releases the address (associated or not: its NAT goes with it). */
export async function deleteFloatingIp(q: Queryable, t: Tenant, ref: string, op: string): Promise<void> {
  const f = await find(q, t, ref, op, true);
  await q.query('DELETE FROM floating_ips WHERE id = $1', [f.id]);
}

/** Floating IPs by id, as the API shows them (the events stream's loader). */
export async function floatingIpsByIds(q: Queryable, ids: string[]): Promise<FloatingIp[]> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE f.id = ANY($1::uuid[])`, [ids]);
  return rows.map(toFip);
}
