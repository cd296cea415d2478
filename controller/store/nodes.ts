import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import { decodeCursor, toPage, type Page } from './paging.js';

export interface Node {
  id: string;
  name: string;
  underlayIp: string;
  underlayMtu: number;
  ready: boolean;
  lastSeen: string | null;
  capabilities: unknown;
  appliedRevision: number;
  desiredRevision: number;
  lag: number;
  containers: number;
}
interface Row {
  id: string;
  name: string;
  underlay_ip: string;
  underlay_mtu: number;
  ready: boolean;
  last_seen: Date | string | null;
  capabilities: unknown;
  applied_revision: string;
  desired_revision: string;
  containers: string;
}
const SELECT = `
  SELECT n.id, n.name, host(n.underlay_ip) AS underlay_ip, n.underlay_mtu, n.ready, n.last_seen, n.capabilities,
         n.applied_revision, n.desired_revision, (SELECT count(*) FROM containers c WHERE c.node_id = n.id) AS containers
    FROM nodes n`;
const toNode = (r: Row): Node => ({
  id: r.id,
  name: r.name,
  underlayIp: r.underlay_ip,
  underlayMtu: r.underlay_mtu,
  ready: r.ready,
  lastSeen: r.last_seen ? new Date(r.last_seen).toISOString() : null,
  capabilities: typeof r.capabilities === 'string' ? JSON.parse(r.capabilities) : r.capabilities,
  appliedRevision: Number(r.applied_revision),
  desiredRevision: Number(r.desired_revision),
  lag: Math.max(0, Number(r.desired_revision) - Number(r.applied_revision)),
  containers: Number(r.containers),
});

export async function listNodes(q: Queryable, limit: number, after?: string): Promise<Page<Node>> {
  const cur = decodeCursor(after, 1);
  const { rows } = await q.query<Row>(`${SELECT} WHERE ($1::text IS NULL OR n.name > $1) ORDER BY n.name LIMIT $2`, [
    cur?.[0] ?? null,
    limit + 1,
  ]);
  return toPage(rows, limit, (r) => [r.name], toNode);
}

export async function getNode(q: Queryable, name: string, op: string): Promise<Node> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE n.name = $1`, [name]);
  if (!rows[0]) throw new ApiError('node_not_found', `${op}: node ${name} not found`);
  return toNode(rows[0]);
}

/** Removes a node; its containers become pending (node NULL) and are rescheduled by the caller. */
export async function deleteNode(q: Queryable, name: string, op: string): Promise<void> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM nodes WHERE name = $1 FOR UPDATE', [name]);
  if (!rows[0]) throw new ApiError('node_not_found', `${op}: node ${name} not found`);
  const id = rows[0].id;
  await q.query("UPDATE containers SET node_id = NULL, observed_state = 'pending', updated_at = now() WHERE node_id = $1", [id]);
  await q.query('UPDATE endpoints SET node_id = NULL WHERE node_id = $1', [id]);
  await q.query('DELETE FROM nodes WHERE id = $1', [id]);
}

export async function clusterStatus(q: Queryable) {
  const rev = await q.query<{ r: string | null }>('SELECT max(revision) AS r FROM change_log');
  const { rows } = await q.query<Row>(`${SELECT} ORDER BY n.name`);
  return {
    revision: Number(rev.rows[0]?.r ?? 0),
    nodes: rows.map(toNode).map((n) => ({
      name: n.name,
      ready: n.ready,
      lastSeen: n.lastSeen,
      desiredRevision: n.desiredRevision,
      appliedRevision: n.appliedRevision,
      lag: n.lag,
      containers: n.containers,
    })),
  };
}

/** Nodes by id, as the API shows them: the events stream's loader. */
export async function nodesByIds(q: Queryable, ids: string[]): Promise<Node[]> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE n.id = ANY($1::uuid[])`, [ids]);
  return rows.map(toNode);
}
