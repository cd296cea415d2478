import { createHash, randomBytes } from 'node:crypto';
import type { Db, Queryable } from './store/db.js';
import { ApiError } from './errors.js';

export type Principal =
  | { kind: 'admin'; tokenId: string }
  | { kind: 'tenant'; tokenId: string; tenantId: string }
  | { kind: 'node'; tokenId: string; nodeName: string };

export const hashToken = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** A new secret: `frt_` + 32 random bytes, base64url. */
export const generateToken = (bytes: Buffer = randomBytes(32)) => `frt_${bytes.toString('base64url')}`;

/** Resolves an `Authorization: Bearer …` header; throws 401 unauthenticated otherwise. */
export async function authenticate(db: Queryable, header: string | undefined): Promise<Principal> {
  const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header ?? '');
  if (!m) throw new ApiError('unauthenticated', 'authenticate: missing or malformed bearer token');
  const { rows } = await db.query<{ id: string; kind: string; tenant_id: string | null; node_name: string | null }>(
    'SELECT id, kind, tenant_id, node_name FROM tokens WHERE hash = $1 AND revoked_at IS NULL',
    [hashToken(m[1])],
  );
  const t = rows[0];
  if (!t) throw new ApiError('unauthenticated', 'authenticate: unknown or revoked token');
  if (t.kind === 'tenant') return { kind: 'tenant', tokenId: t.id, tenantId: t.tenant_id! };
  if (t.kind === 'node') return { kind: 'node', tokenId: t.id, nodeName: t.node_name! };
  return { kind: 'admin', tokenId: t.id };
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
    await q.query('SELECT pg_advisory_xact_lock(7405519)'); // replicas starting together
    const { rows } = await q.query("SELECT 1 FROM tokens WHERE kind = 'admin' AND revoked_at IS NULL LIMIT 1");
    if (rows.length > 0) return null;
    const secret = envToken && envToken.length > 0 ? envToken : gen();
    await q.query("INSERT INTO tokens (hash, kind) VALUES ($1, 'admin') ON CONFLICT (hash) DO UPDATE SET revoked_at = NULL", [hashToken(secret)]);
    return secret;
  });
}
