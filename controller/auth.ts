import { createHash, randomBytes } from 'node:crypto';
import type { Db, Queryable } from './store/db.js';
import { ApiError } from './errors.js';
import { LOCKS, xactLock } from './store/locks.js';

export type Principal =
  | { kind: 'admin'; tokenId: string }
  | { kind: 'tenant'; tokenId: string; tenantId: string }
  | { kind: 'node'; tokenId: string; nodeName: string };

export const hashToken = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** The secret of an `Authorization: Bearer <secret>` header (the one parser of the API and the agent stream). */
export function bearerSecret(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S{1,512})\s*$/i.exec(header ?? '')?.[1];
}

/** A new secret: `frt_` + 32 random bytes, base64url. */
export const generateToken = (bytes: Buffer = randomBytes(32)) => `frt_${bytes.toString('base64url')}`;

/** Resolves an `Authorization: Bearer …` header; throws 401 unauthenticated otherwise. */
export async function authenticate(db: Queryable, header: string | undefined): Promise<Principal> {
  return (await authenticateFor(db, header, undefined)).principal;
}

export interface ScopedTenant {
  id: string;
  name: string;
  createdAt: string;
}

/**
 * Authenticates and, in the same query, looks up the tenant named in the URL. `tenant` is
 * null when it does not exist or the principal may not see it (another tenant's: 404 alike).
 */
export async function authenticateFor(
  db: Queryable,
  header: string | undefined,
  tenantName: string | undefined,
): Promise<{ principal: Principal; tenant: ScopedTenant | null }> {
  const secret = bearerSecret(header);
  if (secret === undefined) throw new ApiError('unauthenticated', 'authenticate: missing or malformed bearer token');
  const { rows } = await db.query<{
    id: string;
    kind: string;
    tenant_id: string | null;
    node_name: string | null;
    t_id: string | null;
    t_name: string | null;
    t_created: Date | string | null;
  }>(
    `SELECT k.id, k.kind, k.tenant_id, k.node_name, t.id AS t_id, t.name AS t_name, t.created_at AS t_created
       FROM tokens k LEFT JOIN tenants t ON t.name = $2
      WHERE k.hash = $1 AND k.revoked_at IS NULL`,
    [hashToken(secret), tenantName ?? null],
  );
  const t = rows[0];
  if (!t) throw new ApiError('unauthenticated', 'authenticate: unknown or revoked token');
  const principal: Principal =
    t.kind === 'tenant'
      ? { kind: 'tenant', tokenId: t.id, tenantId: t.tenant_id! }
      : t.kind === 'node'
        ? { kind: 'node', tokenId: t.id, nodeName: t.node_name! }
        : { kind: 'admin', tokenId: t.id };
  const visible = t.t_id !== null && (principal.kind !== 'tenant' || principal.tenantId === t.t_id);
  return { principal, tenant: visible ? { id: t.t_id!, name: t.t_name!, createdAt: new Date(t.t_created!).toISOString() } : null };
}

export function requireAdmin(p: Principal, op: string): void {
  if (p.kind !== 'admin') throw new ApiError('forbidden', `${op}: needs an admin token`);
}

/**
 * At first start (no live admin token) installs `envToken` or a generated one.
 * Returns the secret when this call created it, so the caller prints it once; else null.
 */
export async function ensureAdminToken(db: Db, envToken: string | undefined, gen: () => string = generateToken): Promise<string | null> {
  return db.tx(async (q) => {
    await q.query(xactLock(LOCKS.BOOTSTRAP)); // replicas starting together
    const { rows } = await q.query("SELECT 1 FROM tokens WHERE kind = 'admin' AND revoked_at IS NULL LIMIT 1");
    if (rows.length > 0) return null;
    const secret = envToken && envToken.length > 0 ? envToken : gen();
    // DO NOTHING: never un-revoke
    await q.query("INSERT INTO tokens (hash, kind) VALUES ($1, 'admin') ON CONFLICT (hash) DO NOTHING", [hashToken(secret)]);
    return secret;
  });
}
