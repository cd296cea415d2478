import type { Queryable } from './db.js';
import type { RouterCreate, RouterUpdate } from '../../protocol/api.js';
import { ApiError } from '../errors.js';
import { freeAddresses, type NetRef } from './alloc.js';
import { decodeCursor, toPage, type Page } from './paging.js';
import type { Tenant } from './tenants.js';
import { LOCKS, xactLock } from './locks.js';

/** A tenant router as the API shows it (its cluster-wide slot stays internal). */
export interface Router {
  tenant: string;
  name: string;
  external: boolean;
  /** the external network egress is source-NATed into (TENANT/NAME), null: the node underlay address */
  externalNetwork: string | null;
  /** with an external network: its address on each node that runs the router */
  gateways: Array<{ node: string; ip: string }>;
  networks: Array<{ name: string; cidr: string; gateway: string | null }>;
  createdAt: string;
}
interface Row {
  id: string;
  tenant: string;
  name: string;
  external: boolean;
  created_at: Date | string;
  networks: Array<{ name: string; cidr: string; gateway: string | null }> | null;
  ext: Array<{ network: string; node: string | null; ip: string | null }> | null;
}
const SELECT = `
  SELECT r.id, t.name AS tenant, r.name, r.external, r.created_at,
         (SELECT json_agg(json_build_object('network', x.network, 'node', x.node, 'ip', x.ip)) FROM freight_router_external(r.id) x) AS ext,
         (SELECT json_agg(json_build_object('name', n.name, 'cidr', n.cidr::text, 'gateway', host(n.gateway)) ORDER BY n.name)
            FROM networks n WHERE n.router_id = r.id) AS networks
    FROM routers r JOIN tenants t ON t.id = r.tenant_id`;
const toRouter = (r: Row): Router => ({
  tenant: r.tenant,
  name: r.name,
  external: r.external,
  externalNetwork: r.ext?.[0]?.network ?? null,
  gateways: (r.ext ?? []).filter((g) => g.node !== null && g.ip !== null).map((g) => ({ node: g.node!, ip: g.ip! })),
  networks: r.networks ?? [],
  createdAt: new Date(r.created_at).toISOString(),
});

const notFound = (op: string, t: Tenant, name: string) =>
  new ApiError('router_not_found', `${op}: router ${name} not found in tenant ${t.name}`);

export async function getRouter(q: Queryable, t: Tenant, name: string, op: string): Promise<Router> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE r.tenant_id = $1 AND r.name = $2`, [t.id, name]);
  if (!rows[0]) throw notFound(op, t, name);
  return toRouter(rows[0]);
}

export async function listRouters(q: Queryable, t: Tenant, limit: number, after?: string): Promise<Page<Router>> {
  const cur = decodeCursor(after, 1);
  const { rows } = await q.query<Row>(`${SELECT} WHERE r.tenant_id = $1 AND ($2::text IS NULL OR r.name > $2) ORDER BY r.name LIMIT $3`, [
    t.id,
    cur?.[0] ?? null,
    limit + 1,
  ]);
  return toPage(rows, limit, (r) => [r.name], toRouter);
}

export async function createRouter(q: Queryable, t: Tenant, body: RouterCreate, op: string): Promise<Router> {
  await q.query(xactLock(LOCKS.ROUTER_SLOT));
  const slot = await q.query<{ s: number | null }>('SELECT freight_free_router_slot() AS s');
  if (slot.rows[0]?.s == null) throw new ApiError('pool_exhausted', `${op}: no free router slot (8192 routers at most)`);
  const ext = body.externalNetwork === undefined ? null : await externalNetworkId(q, body.externalNetwork, op);
  await q.query('INSERT INTO routers (tenant_id, name, external, slot, external_network_id) VALUES ($1, $2, $3, $4, $5)', [
    t.id,
    body.name,
    body.external || ext !== null,
    slot.rows[0].s,
    ext,
  ]);
  return getRouter(q, t, body.name, op);
}

/** An external network named TENANT/NAME (any tenant's, if an admin marked it external); 404 otherwise. */
export async function externalNetworkId(q: Queryable, ref: string, op: string, path = 'externalNetwork'): Promise<string> {
  const [tenant, name] = ref.split('/');
  const { rows } = await q.query<{ id: string }>('SELECT id FROM freight_external_network($1, $2)', [tenant, name]);
  if (!rows[0])
    throw new ApiError('external_network_not_found', `${op}: no external network ${ref} (an admin creates it with --external)`, path);
  return rows[0].id;
}

export async function updateRouter(q: Queryable, t: Tenant, name: string, body: RouterUpdate, op: string): Promise<Router> {
  if (body.externalNetwork && body.external === false)
    throw new ApiError('invalid', `${op}: an external network needs egress (external: true)`, 'external');
  if (body.externalNetwork !== undefined) {
    const ext = body.externalNetwork === null ? null : await externalNetworkId(q, body.externalNetwork, op);
    // an external network implies egress; clearing it keeps egress, through the node underlay address
    await q.query(
      `UPDATE routers SET external_network_id = $3, external = external OR $3::uuid IS NOT NULL
        WHERE tenant_id = $1 AND name = $2 AND external_network_id IS DISTINCT FROM $3::uuid`,
      [t.id, name, ext],
    );
  }
  // no egress at all: no external network either
  if (body.external === false)
    await q.query('UPDATE routers SET external_network_id = NULL WHERE tenant_id = $1 AND name = $2 AND external_network_id IS NOT NULL', [
      t.id,
      name,
    ]);
  if (body.external !== undefined) {
    // an unchanged value writes nothing (no change-log rows for its networks)
    await q.query('UPDATE routers SET external = $3 WHERE tenant_id = $1 AND name = $2 AND external <> $3', [t.id, name, body.external]);
  }
  return getRouter(q, t, name, op);
}

/** Deletes a router with no network attached (409 in_use naming them otherwise). */
export async function deleteRouter(q: Queryable, t: Tenant, name: string, op: string): Promise<void> {
  const r = await getRouter(q, t, name, op);
  if (r.networks.length > 0)
    throw new ApiError('in_use', `${op}: networks still attached (${r.networks.map((n) => n.name).join(', ')}); detach them first`);
  await q.query('DELETE FROM routers WHERE tenant_id = $1 AND name = $2', [t.id, name]);
}

interface NetLock extends NetRef {
  type: string;
  router: string | null;
}

async function lockNetwork(q: Queryable, t: Tenant, name: string, op: string): Promise<NetLock> {
  const { rows } = await q.query<NetLock>(
    `SELECT n.id, n.name, n.type, n.cidr::text AS cidr, host(n.gateway) AS gateway, n.vni, r.name AS router,
            n.physical_network AS physical,
            COALESCE((SELECT json_agg(json_build_object('start', host(p.first_ip), 'end', host(p.last_ip)) ORDER BY p.first_ip)
                        FROM network_pools p WHERE p.network_id = n.id), '[]') AS pools
       FROM networks n LEFT JOIN routers r ON r.id = n.router_id WHERE n.tenant_id = $1 AND n.name = $2 FOR UPDATE OF n`,
    [t.id, name],
  );
  if (!rows[0]) throw new ApiError('network_not_found', `${op}: network ${name} not found in tenant ${t.name}`, 'network');
  return { ...rows[0], vni: rows[0].vni === null ? null : Number(rows[0].vni) };
}

/**
 * Attaches a network: its gateway becomes the router's address on it (the lowest free host
 * address is reserved as gateway when the network has none). Attaching again is a no-op.
 */
export async function attachNetwork(q: Queryable, t: Tenant, router: string, network: string, op: string): Promise<Router> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM routers WHERE tenant_id = $1 AND name = $2 FOR UPDATE', [t.id, router]);
  if (!rows[0]) throw notFound(op, t, router);
  const net = await lockNetwork(q, t, network, op);
  if (net.router === router) return getRouter(q, t, router, op);
  if (net.router) throw new ApiError('conflict', `${op}: network ${network} is already attached to router ${net.router}`, 'network');
  if (net.vni === null)
    throw new ApiError('invalid', `${op}: physical networks cannot be attached to a router (the segment has its own routers)`, 'network');
  if (net.type === 'ipsec')
    throw new ApiError('invalid', `${op}: ipsec networks cannot be attached to a router (routed traffic would bypass ESP)`, 'network');
  const gateway = net.gateway ?? (await freeAddresses(q, { ...net }, 1))[0];
  if (!gateway) throw new ApiError('pool_exhausted', `${op}: network ${network} (${net.cidr}) has no free address for the gateway`);
  await q.query('UPDATE networks SET router_id = $2, gateway = $3::inet WHERE id = $1', [net.id, rows[0].id, gateway]);
  return getRouter(q, t, router, op);
}

export async function detachNetwork(q: Queryable, t: Tenant, router: string, network: string, op: string): Promise<Router> {
  await getRouter(q, t, router, op);
  const net = await lockNetwork(q, t, network, op);
  if (net.router !== router) throw new ApiError('invalid', `${op}: network ${network} is not attached to router ${router}`, 'network');
  await q.query('UPDATE networks SET router_id = NULL WHERE id = $1', [net.id]);
  return getRouter(q, t, router, op);
}

/** Routers by id, as the API shows them plus their id: the events stream's loader. */
export async function routersByIds(q: Queryable, ids: string[]): Promise<Array<Router & { id: string }>> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE r.id = ANY($1::uuid[])`, [ids]);
  return rows.map((r) => ({ id: r.id, ...toRouter(r) }));
}
