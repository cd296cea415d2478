import type { Queryable } from './db.js';

/** One stored Idempotency-Key: which request it belongs to and, once answered, the first answer. */
export interface IdempotencyRow {
  requestHash: string;
  status: number | null;
  answer: Buffer | null;
}

/**
 * Claims (actor, key) for a request: true when this caller now owns it, i.e. there was no row,
 * the row expired, or the same request's claim went stale (its process died before answering).
 * The primary key makes concurrent claims exclusive.
 */
export async function claimKey(
  q: Queryable,
  actor: string,
  keyHash: string,
  requestHash: string,
  ttlSeconds: number,
  staleSeconds: number,
): Promise<boolean> {
  const { rows } = await q.query(
    `INSERT INTO idempotency_keys (actor, key_hash, request_hash, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4))
     ON CONFLICT (actor, key_hash) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, status = NULL, answer = NULL, claimed_at = now(), expires_at = EXCLUDED.expires_at
      WHERE idempotency_keys.expires_at < now()
         OR (idempotency_keys.status IS NULL AND idempotency_keys.request_hash = EXCLUDED.request_hash
             AND idempotency_keys.claimed_at < now() - make_interval(secs => $5))
     RETURNING 1`,
    [actor, keyHash, requestHash, ttlSeconds, staleSeconds],
  );
  return rows.length > 0;
}

export async function readKey(q: Queryable, actor: string, keyHash: string): Promise<IdempotencyRow | null> {
  const { rows } = await q.query<{ request_hash: string; status: number | null; answer: Buffer | Uint8Array | null }>(
    'SELECT request_hash, status, answer FROM idempotency_keys WHERE actor = $1 AND key_hash = $2 AND expires_at >= now()',
    [actor, keyHash],
  );
  const r = rows[0];
  return r ? { requestHash: r.request_hash, status: r.status, answer: r.answer ? Buffer.from(r.answer) : null } : null;
}

/** Records the first answer of a claimed key. */
export async function answerKey(q: Queryable, actor: string, keyHash: string, status: number, answer: Buffer): Promise<void> {
  await q.query('UPDATE idempotency_keys SET status = $3, answer = $4 WHERE actor = $1 AND key_hash = $2', [
    actor,
    keyHash,
    status,
    answer,
  ]);
}

/** Gives a claim up (the request failed on our side): a retry runs the request again. */
export async function releaseKey(q: Queryable, actor: string, keyHash: string): Promise<void> {
  await q.query('DELETE FROM idempotency_keys WHERE actor = $1 AND key_hash = $2 AND status IS NULL', [actor, keyHash]);
}

export async function purgeExpiredKeys(q: Queryable): Promise<number> {
  const { rows } = await q.query('DELETE FROM idempotency_keys WHERE expires_at < now() RETURNING 1');
  return rows.length;
}
