import type { Db, Queryable } from './store/db.js';

export interface NodeLoad {
  id: string;
  name: string;
  ready: boolean;
  containers: number;
}

/** The ready node with the fewest containers (ties: by name, for stable answers); null when none is ready. */
export function chooseNode(nodes: NodeLoad[]): NodeLoad | null {
  let best: NodeLoad | null = null;
  for (const n of nodes) {
    if (!n.ready) continue;
    if (!best || n.containers < best.containers || (n.containers === best.containers && n.name < best.name)) best = n;
  }
  return best;
}

/** Assigns `count` containers one by one, each to the least loaded ready node at that moment. */
export function assignMany(nodes: NodeLoad[], count: number): Array<NodeLoad | null> {
  const loads = nodes.map((n) => ({ ...n }));
  const out: Array<NodeLoad | null> = [];
  for (let i = 0; i < count; i++) {
    const n = chooseNode(loads);
    out.push(n ? nodes.find((x) => x.id === n.id)! : null);
    if (n) n.containers++;
  }
  return out;
}

/** Every tenant's containers count (a SECURITY DEFINER function: a tenant-scoped caller sees only its own rows). */
export async function nodeLoads(q: Queryable, readyOnly: boolean): Promise<NodeLoad[]> {
  const { rows } = await q.query<{ id: string; name: string; ready: boolean; containers: string }>(
    'SELECT id, name, ready, containers FROM freight_node_loads($1)',
    [readyOnly],
  );
  return rows.map((r) => ({ id: r.id, name: r.name, ready: r.ready, containers: Number(r.containers) }));
}

/** Sets a container's node, and its endpoints' node (endpoints.node_id mirrors containers.node_id). */
export async function assignNode(q: Queryable, containerId: string, nodeId: string | null): Promise<void> {
  await q.query('UPDATE containers SET node_id = $2, updated_at = now() WHERE id = $1', [containerId, nodeId]);
  await q.query('UPDATE endpoints SET node_id = $2 WHERE container_id = $1 AND node_id IS DISTINCT FROM $2', [containerId, nodeId]);
}

/**
 * Assigns pending containers (node_id NULL) to ready nodes. Safe to run from several
 * replicas at once: rows being scheduled elsewhere are skipped. Returns how many were placed.
 */
export async function schedulePending(db: Db, batch = 500): Promise<number> {
  return db.tx(async (q) => {
    const { rows } = await q.query<{ id: string }>(
      'SELECT id FROM containers WHERE node_id IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED',
      [batch],
    );
    if (rows.length === 0) return 0;
    const nodes = await nodeLoads(q, true);
    const plan = assignMany(nodes, rows.length);
    let placed = 0;
    for (let i = 0; i < rows.length; i++) {
      const node = plan[i];
      if (!node) break;
      await assignNode(q, rows[i].id, node.id);
      placed++;
    }
    return placed;
  });
}
