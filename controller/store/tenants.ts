import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import type { Principal } from '../auth.js';
import type { Labels } from '../../protocol/meta.js';
import { TenantSettings, type TenantPatch } from '../../protocol/patch.js';
import { mergeSettings } from '../api/patch.js';
import { filterSql, type ListFilter } from './filters.js';
import { decodeCursor, toPage, type Page } from './paging.js';

/** What handlers need of a tenant (the URL's, looked up with the token). */
export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
}
/** A tenant as the API shows it. */
export interface TenantDetails extends Tenant {
  description: string | null;
  labels: Labels;
  updatedAt: string;
}
interface Row {
  id: string;
  name: string;
  created_at: Date | string;
  updated_at: Date | string;
  description: string | null;
  labels: Labels;
}
const COLUMNS = 'id, name, created_at, updated_at, description, labels';
const toTenant = (r: Row): TenantDetails => ({
  id: r.id,
  name: r.name,
  description: r.description,
  labels: r.labels ?? {},
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export async function createTenant(q: Queryable, body: { name: string; description?: string; labels?: Labels }): Promise<TenantDetails> {
  const { rows } = await q.query<Row>(`INSERT INTO tenants (name, description, labels) VALUES ($1, $2, $3::jsonb) RETURNING ${COLUMNS}`, [
    body.name,
    body.description ?? null,
    JSON.stringify(body.labels ?? {}),
  ]);
  return toTenant(rows[0]);
}

export async function getTenant(q: Queryable, t: Tenant): Promise<TenantDetails> {
  const { rows } = await q.query<Row>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [t.id]);
  return toTenant(rows[0]);
}

export async function listTenants(
  q: Queryable,
  p: Principal,
  limit: number,
  after?: string,
  filter?: ListFilter,
): Promise<Page<TenantDetails>> {
  const cur = decodeCursor(after, 1);
  const params: unknown[] = [p.kind === 'tenant' ? p.tenantId : null, cur?.[0] ?? null, limit + 1];
  const where = filterSql(filter, 'labels', {}, params);
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM tenants WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR name > $2)${where} ORDER BY name LIMIT $3`,
    params,
  );
  return toPage(rows, limit, (r) => [r.name], toTenant);
}

/** PATCH of a tenant: its description and labels (the name is fixed). */
export async function patchTenant(q: Queryable, t: Tenant, patch: TenantPatch, op: string): Promise<TenantDetails> {
  const { rows } = await q.query<Row>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE`, [t.id]);
  const r = rows[0];
  const current = { description: r.description, labels: r.labels };
  const { settings: s, changed } = mergeSettings(TenantSettings, current, { name: r.name }, patch, op);
  if (changed.length === 0) return toTenant(r);
  const u = await q.query<Row>(
    `UPDATE tenants SET description = $2, labels = $3::jsonb, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [t.id, s.description ?? null, JSON.stringify(s.labels)],
  );
  return toTenant(u.rows[0]);
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
  const { rows } = await q.query<Row>(`SELECT ${COLUMNS} FROM tenants WHERE id = ANY($1::uuid[])`, [ids]);
  return rows.map(toTenant);
}
