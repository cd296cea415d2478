import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import type { Principal } from '../auth.js';
import { decodeCursor, toPage, type Page } from './paging.js';

export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
}
interface Row {
  id: string;
  name: string;
  created_at: Date | string;
}
const toTenant = (r: Row): Tenant => ({ id: r.id, name: r.name, createdAt: new Date(r.created_at).toISOString() });

export async function createTenant(q: Queryable, name: string): Promise<Tenant> {
  const { rows } = await q.query<Row>('INSERT INTO tenants (name) VALUES ($1) RETURNING id, name, created_at', [name]);
  return toTenant(rows[0]);
}

export async function listTenants(q: Queryable, p: Principal, limit: number, after?: string): Promise<Page<Tenant>> {
  const cur = decodeCursor(after, 1);
  const { rows } = await q.query<Row>(
    `SELECT id, name, created_at FROM tenants
      WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR name > $2)
      ORDER BY name LIMIT $3`,
    [p.kind === 'tenant' ? p.tenantId : null, cur?.[0] ?? null, limit + 1],
  );
  return toPage(rows, limit, (r) => [r.name], toTenant);
}

/** Deletes a tenant with no networks and no containers (its tokens go with it). */
export async function deleteTenant(q: Queryable, t: Tenant, op: string): Promise<void> {
  await q.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [t.id]);
  const { rows } = await q.query<{ networks: string; containers: string }>(
    `SELECT (SELECT count(*) FROM networks WHERE tenant_id = $1) AS networks,
            (SELECT count(*) FROM containers WHERE tenant_id = $1 AND kind = 'container') AS containers`,
    [t.id],
  );
  const { networks, containers } = rows[0];
  if (Number(networks) + Number(containers) > 0) {
    throw new ApiError('in_use', `${op}: tenant ${t.name} still has ${networks} networks and ${containers} containers`);
  }
  await q.query('DELETE FROM tenants WHERE id = $1', [t.id]);
}

/** Tenants by id: the events stream's loader. */
export async function tenantsByIds(q: Queryable, ids: string[]): Promise<Tenant[]> {
  const { rows } = await q.query<Row>('SELECT id, name, created_at FROM tenants WHERE id = ANY($1::uuid[])', [ids]);
  return rows.map(toTenant);
}
