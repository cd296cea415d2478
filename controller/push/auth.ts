import type { Queryable } from '../store/db.js';
import { bearerSecret, hashToken } from '../auth.js';

export interface StreamToken {
  node: string;
  tokenId: string;
  hash: string;
}

/** The bearer secret's sha256 hex (as the tokens table stores it), or undefined without a bearer. */
export function bearerHash(authorization: string | undefined): string | undefined {
  const secret = bearerSecret(authorization);
  return secret === undefined ? undefined : hashToken(secret);
}

/**
 * The node token a stream's bearer secret is, or undefined. Reads the tokens table directly
 * (kind 'node', not revoked). The token id is kept with the stream: revoking it closes the stream.
 */
export async function nodeForToken(q: Queryable, authorization: string | undefined): Promise<StreamToken | undefined> {
  const hash = bearerHash(authorization);
  if (!hash) return undefined;
  const { rows } = await q.query<{ node_name: string; id: string }>(
    `SELECT node_name, id::text FROM tokens WHERE hash = $1 AND kind = 'node' AND revoked_at IS NULL`,
    [hash],
  );
  return rows[0] ? { node: rows[0].node_name, tokenId: rows[0].id, hash } : undefined;
}

/** Of `ids`, the tokens still valid whose node still exists (the periodic revocation backstop). */
export async function validTokens(q: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await q.query<{ id: string }>(
    `SELECT k.id::text FROM tokens k JOIN nodes n ON n.name = k.node_name
      WHERE k.id = ANY($1::uuid[]) AND k.kind = 'node' AND k.revoked_at IS NULL`,
    [ids],
  );
  return new Set(rows.map((r) => r.id));
}
