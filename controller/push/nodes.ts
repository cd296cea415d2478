import type { Capabilities, ContainerStatus } from '../../protocol/stream.js';
import type { Queryable } from '../store/db.js';

/** Node bookkeeping in the nodes table: what `freightctl status` reads. */

/** Registers or updates the node on hello; returns whether it was ready before. */
export async function upsertNode(
  q: Queryable, h: { node: string; underlayIp: string; underlayMtu: number; capabilities: Capabilities },
): Promise<{ wasReady: boolean }> {
  const { rows } = await q.query<{ was_ready: boolean | null }>(
    `WITH old AS (SELECT ready FROM nodes WHERE name = $1)
     INSERT INTO nodes (name, underlay_ip, underlay_mtu, capabilities, ready, last_seen)
     VALUES ($1, $2::inet, $3, $4::jsonb, true, now())
     ON CONFLICT (name) DO UPDATE SET underlay_ip = EXCLUDED.underlay_ip, underlay_mtu = EXCLUDED.underlay_mtu,
       capabilities = EXCLUDED.capabilities, ready = true, last_seen = now()
     RETURNING (SELECT ready FROM old) AS was_ready`,
    [h.node, h.underlayIp, h.underlayMtu, JSON.stringify(h.capabilities)],
  );
  return { wasReady: rows[0]?.was_ready === true };
}

export interface NodeMark { name: string; seen: boolean; applied: number; desired: number }

/**
 * One UPDATE for every node with news since the last flush: last_seen and ready
 * for nodes heard from, the applied and desired revisions. Returns the nodes that
 * were not ready before (they just became ready).
 */
export async function flushNodes(q: Queryable, marks: NodeMark[]): Promise<string[]> {
  if (marks.length === 0) return [];
  const { rows } = await q.query<{ name: string; was_ready: boolean }>(
    `UPDATE nodes n SET
       last_seen = CASE WHEN v.seen THEN now() ELSE n.last_seen END,
       ready = n.ready OR v.seen,
       applied_revision = v.applied, desired_revision = GREATEST(v.desired, v.applied)
     FROM unnest($1::text[], $2::boolean[], $3::bigint[], $4::bigint[]) AS v(name, seen, applied, desired), nodes o
     WHERE n.name = v.name AND o.id = n.id
     RETURNING n.name, o.ready AS was_ready`,
    [marks.map((m) => m.name), marks.map((m) => m.seen), marks.map((m) => m.applied), marks.map((m) => m.desired)],
  );
  return rows.filter((r) => !r.was_ready).map((r) => r.name);
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
    [node, list.map((c) => c.id), list.map((c) => c.state), list.map((c) => c.exitCode), list.map((c) => c.reason), list.map((c) => c.restarts)],
  );
  return rows.length;
}
