import type { Capabilities, ContainerStatus } from '../../protocol/stream.js';
import type { Queryable } from '../store/db.js';

/** Node bookkeeping in the nodes table: what `freightctl status` reads. */

/**
 * Updates the node's row on hello (underlay, capabilities, last_seen); returns whether its
 * underlay address or MTU changed (that writes a change-log row), or undefined when
 * the node has no row (never registered, or deleted) or the stream's token was revoked meanwhile.
 * Never inserts: node rows come from an admin creating the node's token. Readiness is not set
 * here but by the next batched flush (`flushNodes`, every flushMs): a hello that made its node
 * ready wrote a change-log row, and every writer of the log serialises on its lock until its
 * commit's fsync, so 5,000 agents starting at once were 5,000 commits one after the other; the
 * flush makes them ready in one.
 */
export async function helloNode(
  q: Queryable,
  h: { node: string; underlayIp: string; underlayMtu: number; capabilities: Capabilities },
  tokenId: string,
): Promise<{ moved: boolean } | undefined> {
  const { rows } = await q.query<{ moved: boolean }>(
    `UPDATE nodes n SET underlay_ip = $2::inet, underlay_mtu = $3, capabilities = $4::jsonb, last_seen = now()
       FROM nodes o
      WHERE n.name = $1 AND o.id = n.id
        AND EXISTS (SELECT 1 FROM tokens k WHERE k.id = $5::uuid AND k.kind = 'node' AND k.node_name = $1 AND k.revoked_at IS NULL)
     RETURNING (o.underlay_ip IS DISTINCT FROM n.underlay_ip OR o.underlay_mtu IS DISTINCT FROM n.underlay_mtu) AS moved`,
    [h.node, h.underlayIp, h.underlayMtu, JSON.stringify(h.capabilities), tokenId],
  );
  return rows[0] ? { moved: rows[0].moved === true } : undefined;
}

/** `late`: sent revisions unacknowledged past the ack timeout (NotReady even though it talks). */
export interface NodeMark {
  name: string;
  tokenId: string;
  seen: boolean;
  late: boolean;
  applied: number;
  desired: number;
}

/**
 * One UPDATE for every node with news since the last flush: last_seen for nodes heard from, ready
 * (heard from with a still valid token and not late; false when late), the applied and desired
 * revisions. Returns the nodes that were not ready before (they just became ready).
 */
export async function flushNodes(q: Queryable, marks: NodeMark[]): Promise<string[]> {
  if (marks.length === 0) return [];
  const { rows } = await q.query<{ name: string; was_ready: boolean; ready: boolean }>(
    `UPDATE nodes n SET
       last_seen = CASE WHEN v.seen THEN now() ELSE n.last_seen END,
       ready = CASE WHEN v.late THEN false
                    ELSE n.ready OR (v.seen AND EXISTS (SELECT 1 FROM tokens k WHERE k.id = v.token AND k.revoked_at IS NULL)) END,
       applied_revision = v.applied, desired_revision = GREATEST(v.desired, v.applied)
     FROM unnest($1::text[], $2::boolean[], $3::bigint[], $4::bigint[], $5::uuid[], $6::boolean[])
            AS v(name, seen, applied, desired, token, late), nodes o
     WHERE n.name = v.name AND o.id = n.id
     RETURNING n.name, o.ready AS was_ready, n.ready`,
    [
      marks.map((m) => m.name),
      marks.map((m) => m.seen),
      marks.map((m) => m.applied),
      marks.map((m) => m.desired),
      marks.map((m) => m.tokenId),
      marks.map((m) => m.late),
    ],
  );
  return rows.filter((r) => !r.was_ready && r.ready).map((r) => r.name);
}

/** Marks a node NotReady whose stream just closed; false when it was not ready anyway. */
export async function markDisconnected(q: Queryable, name: string): Promise<boolean> {
  const { rows } = await q.query('UPDATE nodes SET ready = false WHERE name = $1 AND ready RETURNING name', [name]);
  return rows.length > 0;
}

/** Marks NotReady every node silent for longer than `silentMs` (whichever replica it was on). */
export async function markSilentNodes(q: Queryable, silentMs: number): Promise<string[]> {
  const { rows } = await q.query<{ name: string }>(
    `UPDATE nodes SET ready = false
     WHERE ready AND (last_seen IS NULL OR last_seen < now() - make_interval(secs => $1::double precision / 1000))
     RETURNING name`,
    [silentMs],
  );
  return rows.map((r) => r.name);
}

/** Keeps the newest `rows` change-log rows, and any row younger than `ms`. */
export async function pruneChangeLog(q: Queryable, keep: { rows: number; ms: number }): Promise<number> {
  const { rows } = await q.query<{ n: string }>(
    `WITH gone AS (
       DELETE FROM change_log
       WHERE revision <= (SELECT max(revision) FROM change_log) - $1::bigint
         AND at < now() - make_interval(secs => $2::double precision / 1000)
       RETURNING 1)
     SELECT count(*)::text AS n FROM gone`,
    [Math.max(1, keep.rows), keep.ms],
  );
  return Number(rows[0]?.n ?? 0);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Observed container state from the node's report; only containers on that node change. */
export async function saveStatus(q: Queryable, node: string, containers: ContainerStatus[]): Promise<number> {
  const list = containers.filter((c) => UUID.test(c.id));
  if (list.length === 0) return 0;
  const { rows } = await q.query<{ id: string }>(
    `UPDATE containers c SET observed_state = v.state, exit_code = v.exit_code, reason = v.reason,
       restarts = v.restarts, updated_at = now()
     FROM unnest($2::uuid[], $3::text[], $4::int[], $5::text[], $6::int[]) AS v(id, state, exit_code, reason, restarts)
     WHERE c.id = v.id AND c.node_id = (SELECT id FROM nodes WHERE name = $1)
     RETURNING c.id`,
    [
      node,
      list.map((c) => c.id),
      list.map((c) => c.state),
      list.map((c) => c.exitCode),
      list.map((c) => c.reason),
      list.map((c) => c.restarts),
    ],
  );
  return rows.length;
}
