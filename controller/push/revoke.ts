import type { ChangeRow } from '../view/diff.js';

/** What a batch of change rows revokes: node tokens (object = token id) and deleted nodes (object = node id). */
export interface Revoked {
  tokens: Set<string>;
  nodes: Set<string>;
}

/** Pure: the revocations among change rows (written by the triggers of schema.sql). */
export function revokedIn(rows: ChangeRow[]): Revoked {
  const out: Revoked = { tokens: new Set(), nodes: new Set() };
  for (const r of rows) {
    if (r.kind === 'tokens') out.tokens.add(r.objectId);
    else if (r.kind === 'nodes' && r.op === 'delete') out.nodes.add(r.objectId);
  }
  return out;
}

/** Whether a stream opened with `tokenId`, serving node `nodeId`, is revoked by `r`. */
export const isRevoked = (r: Revoked, tokenId: string, nodeId: string | undefined): boolean =>
  r.tokens.has(tokenId) || (nodeId !== undefined && r.nodes.has(nodeId));
