import type { Db, Queryable } from './store/db.js';

export interface NodeLoad {
  id: string;
  name: string;
  ready: boolean;
  containers: number;
  /** physical networks the node maps to an interface (its agent's --physical-network) */
  physical: string[];
  /** published ports other containers hold on the node (`portKey`); absent: none known */
  taken?: Set<string>;
}

/** A published port as the unique index sees it: node address (null: the underlay address), protocol, port. */
export const portKey = (p: { proto: string; hostPort: number; hostIp?: string | null }): string =>
  `${p.hostIp ?? '*'}|${p.proto}/${p.hostPort}`;
const portName = (k: string) => (k.startsWith('*|') ? k.slice(2) : k.replace('|', ' '));

/** Whether the node maps every physical network in `needs`. */
export const mapsAll = (n: NodeLoad, needs: readonly string[]): boolean => needs.every((p) => n.physical.includes(p));

/**
 * The ready node with the fewest containers among those that map every physical network in
 * `needs` (ties: by name, for stable answers); null when none is.
 */
export function chooseNode(nodes: NodeLoad[], needs: readonly string[] = [], ports: readonly string[] = []): NodeLoad | null {
  let best: NodeLoad | null = null;
  for (const n of nodes) {
    if (!n.ready || !mapsAll(n, needs) || ports.some((k) => n.taken?.has(k))) continue;
    if (!best || n.containers < best.containers || (n.containers === best.containers && n.name < best.name)) best = n;
  }
  return best;
}

/**
 * Why a container got no node: what `container show` says while it is pending. With `nodes`, a
 * container that only its published ports keep out says which port (docs/api.md "Published ports").
 */
export function unplacedReason(needs: readonly string[], nodes?: NodeLoad[], ports: readonly string[] = []): string {
  const eligible = nodes?.filter((n) => n.ready && mapsAll(n, needs)) ?? [];
  if (ports.length > 0 && eligible.length > 0) {
    const blocking = ports.filter((k) => eligible.some((n) => n.taken?.has(k))).map(portName);
    return `published port ${blocking.join(', ')} is taken on every eligible node (freightctl container set --publish another port)`;
  }
  return needs.length
    ? `no ready node maps physical network ${needs.join(', ')} (freight-agent --physical-network ${needs[0]}=IFACE)`
    : 'no ready node';
}

/**
 * Assigns containers one by one (each with the physical networks it needs and the ports it
 * publishes), each to the least loaded eligible node at that moment; a port given to one
 * container of the batch is taken for the next.
 */
export function assignMany(
  nodes: NodeLoad[],
  wants: number | ReadonlyArray<readonly string[]>,
  ports: ReadonlyArray<readonly string[]> = [],
): Array<NodeLoad | null> {
  const list = typeof wants === 'number' ? Array.from({ length: wants }, () => [] as string[]) : wants;
  const loads = nodes.map((n) => ({ ...n, taken: new Set(n.taken) }));
  const out: Array<NodeLoad | null> = [];
  list.forEach((needs, i) => {
    const n = chooseNode(loads, needs, ports[i]);
    out.push(n ? nodes.find((x) => x.id === n.id)! : null);
    if (n) {
      n.containers++;
      for (const k of ports[i] ?? []) n.taken?.add(k);
    }
  });
  return out;
}

/**
 * Every tenant's containers count (a SECURITY DEFINER function: a tenant-scoped caller sees only
 * its own rows); the mappings come from the node's reported capabilities.
 */
export async function nodeLoads(q: Queryable, readyOnly: boolean): Promise<NodeLoad[]> {
  const { rows } = await q.query<{ id: string; name: string; ready: boolean; containers: string; physical: string[] | null }>(
    `SELECT l.id, l.name, l.ready, l.containers,
            ARRAY(SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(n.capabilities -> 'physicalNetworks') = 'object'
                                                THEN n.capabilities -> 'physicalNetworks' ELSE '{}'::jsonb END)) AS physical
       FROM freight_node_loads($1) l JOIN nodes n ON n.id = l.id`,
    [readyOnly],
  );
  return rows.map((r) => ({ id: r.id, name: r.name, ready: r.ready, containers: Number(r.containers), physical: r.physical ?? [] }));
}

/** Sets a container's node, and its endpoints' node (endpoints.node_id mirrors containers.node_id). */
export async function assignNode(q: Queryable, containerId: string, nodeId: string | null): Promise<void> {
  await q.query('UPDATE containers SET node_id = $2, updated_at = now() WHERE id = $1', [containerId, nodeId]);
  await q.query('UPDATE endpoints SET node_id = $2 WHERE container_id = $1 AND node_id IS DISTINCT FROM $2', [containerId, nodeId]);
}

/**
 * Assigns pending containers (node_id NULL) to ready nodes that map the physical networks they
 * need. Safe to run from several replicas at once: rows being scheduled elsewhere are skipped.
 * One that fits no node keeps a reason. Returns how many were placed.
 */
export async function schedulePending(db: Db, batch = 500): Promise<number> {
  return db.tx(async (q) => {
    const { rows } = await q.query<{ id: string }>(
      'SELECT id FROM containers WHERE node_id IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED',
      [batch],
    );
    if (rows.length === 0) return 0;
    const ids = rows.map((r) => r.id);
    const needs = await physicalNeeds(q, ids);
    const ports = await publishedKeys(q, ids);
    const nodes = await withTakenPorts(q, await nodeLoads(q, true));
    const plan = assignMany(
      nodes,
      rows.map((r) => needs.get(r.id) ?? []),
      rows.map((r) => ports.get(r.id) ?? []),
    );
    let placed = 0;
    for (let i = 0; i < rows.length; i++) {
      const node = plan[i];
      if (node) {
        await assignNode(q, rows[i].id, node.id);
        await q.query('UPDATE containers SET reason = NULL WHERE id = $1 AND reason IS NOT NULL', [rows[i].id]);
        placed++;
      } else {
        const why = unplacedReason(needs.get(rows[i].id) ?? [], nodes, ports.get(rows[i].id));
        await q.query('UPDATE containers SET reason = $2 WHERE id = $1 AND reason IS DISTINCT FROM $2', [rows[i].id, why]);
      }
    }
    return placed;
  });
}

/** Per container: the physical networks of its endpoints' networks (none for overlay-only containers). */
async function physicalNeeds(q: Queryable, ids: string[]): Promise<Map<string, string[]>> {
  const { rows } = await q.query<{ id: string; physical: string[] }>(
    `SELECT e.container_id AS id, array_agg(DISTINCT n.physical_network) AS physical
       FROM endpoints e JOIN networks n ON n.id = e.network_id
      WHERE e.container_id = ANY($1::uuid[]) AND n.physical_network IS NOT NULL GROUP BY e.container_id`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.physical]));
}

/** Per container: its published ports (`portKey`). */
async function publishedKeys(q: Queryable, ids: string[]): Promise<Map<string, string[]>> {
  const { rows } = await q.query<{ id: string; proto: string; host_port: number; host_ip: string | null }>(
    'SELECT container_id AS id, proto, host_port, host(host_ip) AS host_ip FROM published_ports WHERE container_id = ANY($1::uuid[])',
    [ids],
  );
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.id, [...(out.get(r.id) ?? []), portKey({ proto: r.proto, hostPort: r.host_port, hostIp: r.host_ip })]);
  return out;
}

/**
 * The published ports every node already holds, all tenants' (a SECURITY DEFINER function: a
 * tenant-scoped caller learns which node has which port taken, never whose), so a container is
 * never placed where its port would collide: it goes elsewhere or stays pending with a reason.
 */
export async function withTakenPorts(q: Queryable, nodes: NodeLoad[]): Promise<NodeLoad[]> {
  const { rows } = await q.query<{ node_id: string; proto: string; host_port: number; host_ip: string | null }>(
    'SELECT node_id, proto, host_port, host_ip FROM freight_taken_ports()',
  );
  const taken = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!taken.has(r.node_id)) taken.set(r.node_id, new Set());
    taken.get(r.node_id)!.add(portKey({ proto: r.proto, hostPort: r.host_port, hostIp: r.host_ip }));
  }
  return nodes.map((n) => ({ ...n, taken: taken.get(n.id) ?? new Set() }));
}
