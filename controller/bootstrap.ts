/**
 * The first admin token. It goes to `<state dir>/admin-token` (0600), never to stdout or the
 * log, and is written before the database row, so a first start that fails later (port in
 * use) leaves the file and the next start installs the same token. It is made only when the
 * database has never had an admin token; `freight-controller admin-token --rotate` replaces
 * it. Revocation is never undone: an existing hash is never touched on insert.
 */
import path from 'node:path';
import type { Db, Queryable } from './store/db.js';
import { generateToken, hashToken } from './auth.js';
import { readSecret, writeSecret } from './secrets/files.js';
import { LOCKS, xactLock } from './store/locks.js';

export const MIN_ADMIN_TOKEN = 32;
export const adminTokenFile = (stateDir: string) => path.join(stateDir, 'admin-token');

export type BootstrapResult =
  /** a live admin token exists: nothing done */
  | { state: 'exists' }
  /** every admin token was revoked: nothing done (only --rotate makes a new one) */
  | { state: 'all-revoked' }
  /** first start: installed FREIGHT_ADMIN_TOKEN */
  | { state: 'env' }
  /** first start: installed the token of the file (written now or by an earlier failed start) */
  | { state: 'file'; file: string; written: boolean };

export class BootstrapError extends Error {
  readonly code = 'admin_token_too_short';
}

/** FREIGHT_ADMIN_TOKEN must be a real secret. */
export function checkEnvToken(envToken: string | undefined): void {
  if (envToken !== undefined && envToken.length < MIN_ADMIN_TOKEN)
    throw new BootstrapError(
      `FREIGHT_ADMIN_TOKEN has ${envToken.length} characters, at least ${MIN_ADMIN_TOKEN} are needed (e.g. \`openssl rand -base64 32\`)`,
    );
}

const readTokenFile = async (file: string) => (await readSecret(file, 'admin token file'))?.trim() || undefined;

async function insertAdmin(q: Queryable, secret: string): Promise<void> {
  // DO NOTHING: a revoked token stays revoked, whoever presents it again
  await q.query("INSERT INTO tokens (hash, kind) VALUES ($1, 'admin') ON CONFLICT (hash) DO NOTHING", [hashToken(secret)]);
}

export async function bootstrapAdmin(db: Db, o: { stateDir: string; envToken?: string; gen?: () => string }): Promise<BootstrapResult> {
  checkEnvToken(o.envToken);
  const file = adminTokenFile(o.stateDir);
  return db.tx(async (q) => {
    await q.query(xactLock(LOCKS.BOOTSTRAP)); // replicas starting together
    const { rows } = await q.query<{ live: string; total: string }>(
      "SELECT count(*) FILTER (WHERE revoked_at IS NULL)::text AS live, count(*)::text AS total FROM tokens WHERE kind = 'admin'",
    );
    if (Number(rows[0].live) > 0) return { state: 'exists' } as const;
    if (Number(rows[0].total) > 0) return { state: 'all-revoked' } as const;
    if (o.envToken) {
      await insertAdmin(q, o.envToken);
      return { state: 'env' } as const;
    }
    let secret = await readTokenFile(file);
    const written = secret === undefined;
    if (secret === undefined) {
      secret = (o.gen ?? generateToken)();
      await writeSecret(file, `${secret}\n`); // before the row: a failed start keeps it
    }
    await insertAdmin(q, secret);
    return { state: 'file', file, written } as const;
  });
}

/** `admin-token --rotate`: a new token in the file, the file's previous token revoked. */
export async function rotateAdminToken(
  db: Db,
  stateDir: string,
  gen: () => string = generateToken,
): Promise<{ file: string; revokedPrevious: boolean }> {
  const file = adminTokenFile(stateDir);
  return db.tx(async (q) => {
    const previous = await readTokenFile(file);
    const secret = gen();
    await insertAdmin(q, secret);
    let revokedPrevious = false;
    if (previous) {
      const r = await q.query(
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE hash = $1 AND kind = 'admin' RETURNING id",
        [hashToken(previous)],
      );
      revokedPrevious = r.rows.length > 0;
    }
    await writeSecret(file, `${secret}\n`);
    return { file, revokedPrevious };
  });
}

/** `admin-token` without --rotate: whether the file's token is live. */
export async function adminTokenStatus(db: Db, stateDir: string): Promise<{ file: string; present: boolean; live: boolean }> {
  const file = adminTokenFile(stateDir);
  const secret = await readTokenFile(file);
  if (!secret) return { file, present: false, live: false };
  const { rows } = await db.query("SELECT 1 FROM tokens WHERE hash = $1 AND kind = 'admin' AND revoked_at IS NULL", [hashToken(secret)]);
  return { file, present: true, live: rows.length > 0 };
}
