import { createHash } from 'node:crypto';
import type { Queryable } from '../store/db.js';

/**
 * The node a stream's bearer token belongs to, or undefined. Reads the tokens
 * table directly (kind 'node', not revoked); tokens are stored as sha256 hex.
 */
export async function nodeForToken(q: Queryable, authorization: string | undefined): Promise<string | undefined> {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!m) return undefined;
  const hash = createHash('sha256').update(m[1]).digest('hex');
  const { rows } = await q.query<{ node_name: string }>(
    `SELECT node_name FROM tokens WHERE hash = $1 AND kind = 'node' AND revoked_at IS NULL`,
    [hash],
  );
  return rows[0]?.node_name;
}
