import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import { generateToken, hashToken } from '../auth.js';
import { decodeCursor, toPage, type Page } from './paging.js';

export interface Token {
  id: string;
  kind: string;
  tenant: string | null;
  node: string | null;
  createdAt: string;
  revokedAt: string | null;
}
interface Row {
  id: string;
  kind: string;
  tenant: string | null;
  node_name: string | null;
  created_at: Date | string;
  revoked_at: Date | string | null;
}
const SELECT = `SELECT k.id, k.kind, t.name AS tenant, k.node_name, k.created_at, k.revoked_at
                  FROM tokens k LEFT JOIN tenants t ON t.id = k.tenant_id`;
const toToken = (r: Row): Token => ({
  id: r.id,
  kind: r.kind,
  tenant: r.tenant,
  node: r.node_name,
  createdAt: new Date(r.created_at).toISOString(),
  revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Creates a token; the secret is in the answer only, the database keeps its SHA-256. */
export async function createToken(
  q: Queryable,
  body: { kind: 'admin' | 'tenant' | 'node'; tenant?: string; node?: string },
  op: string,
): Promise<Token & { token: string }> {
  let tenantId: string | null = null;
  if (body.kind === 'tenant') {
    const { rows } = await q.query<{ id: string }>('SELECT id FROM tenants WHERE name = $1', [body.tenant]);
    if (!rows[0]) throw new ApiError('tenant_not_found', `${op}: tenant ${body.tenant} not found`);
    tenantId = rows[0].id;
  }
  const secret = generateToken();
  const { rows } = await q.query<{ id: string }>(
    'INSERT INTO tokens (hash, kind, tenant_id, node_name) VALUES ($1, $2, $3, $4) RETURNING id',
    [hashToken(secret), body.kind, tenantId, body.kind === 'node' ? body.node : null],
  );
  return { ...(await getToken(q, rows[0].id, op)), token: secret };
}

export async function getToken(q: Queryable, id: string, op: string): Promise<Token> {
  if (!UUID.test(id)) throw new ApiError('token_not_found', `${op}: token ${id} not found`);
  const { rows } = await q.query<Row>(`${SELECT} WHERE k.id = $1`, [id]);
  if (!rows[0]) throw new ApiError('token_not_found', `${op}: token ${id} not found`);
  return toToken(rows[0]);
}

export async function listTokens(q: Queryable, limit: number, after?: string): Promise<Page<Token>> {
  const cur = decodeCursor(after, 1);
  if (cur && !UUID.test(cur[0])) throw new ApiError('invalid', 'list tokens: after is not a cursor returned by this API', 'after');
  const { rows } = await q.query<Row>(`${SELECT} WHERE ($1::uuid IS NULL OR k.id > $1) ORDER BY k.id LIMIT $2`, [
    cur?.[0] ?? null,
    limit + 1,
  ]);
  return toPage(rows, limit, (r) => [r.id], toToken);
}

/** Revokes: the row stays (audit), `revoked_at` makes authentication fail. */
export async function revokeToken(q: Queryable, id: string, op: string): Promise<Token> {
  await getToken(q, id, op);
  await q.query('UPDATE tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1', [id]);
  return getToken(q, id, op);
}
