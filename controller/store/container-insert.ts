import type { Queryable } from './db.js';
import { allocateMac, type NetRef } from './alloc.js';

/** A container row as createContainer writes it, with one endpoint per network. */
export interface NewContainer {
  tenantId: string;
  name: string;
  image: string;
  command: string[];
  boot: boolean;
  restart: string;
  nodeId: string | null;
  memory: number;
  cpuMillis: number | null;
  pids: number;
  reason: string | null;
  description: string | null;
  labels: Record<string, string>;
  endpoints: Array<{ net: NetRef; ip: string; mac: string; chosenMac: boolean }>;
}

/**
 * A create written later in its transaction, with the others of its batch (flushCreates). `shown`
 * is what the API answers: its timestamps and (after a repeated MAC) its MACs are set then.
 */
export interface DeferredCreate {
  id: string;
  row: NewContainer;
  shown: { createdAt: string; updatedAt: string; endpoints: Array<{ mac: string }> };
}

const at = (d: Date | string) => new Date(d).toISOString();

/**
 * Writes the container and its endpoints in one statement, unless one of the MACs is already on
 * its network (undefined then, nothing written): the check costs no round trip of its own.
 */
async function insertWithEndpoints(q: Queryable, c: NewContainer, id: string): Promise<string | undefined> {
  const [created] = await insertMany(q, [{ id, row: c }]);
  return created?.createdAt;
}

/**
 * Many creates in one statement (batch.ts's group commit: one round trip for the batch instead of
 * one per create). Rows whose MACs repeat one already on the network are left out; returns the
 * ones written. Two rows of the statement that repeat a MAC between them (a chosen address on a
 * network wider than /16) fail its unique key: the batch is then replayed job by job (batch.ts).
 * The caller's scope must be every row's tenant (row-level security).
 */
async function insertMany(q: Queryable, cs: Array<{ id: string; row: NewContainer }>): Promise<Array<{ id: string; createdAt: string }>> {
  const rows = cs.map(({ id, row: c }, k) => ({
    k,
    id,
    tenant_id: c.tenantId,
    name: c.name,
    image: c.image,
    command: c.command,
    boot: c.boot,
    restart: c.restart,
    node_id: c.nodeId,
    memory_bytes: c.memory,
    cpu_millis: c.cpuMillis,
    pids_max: c.pids,
    reason: c.reason,
    description: c.description,
    labels: c.labels,
  }));
  const eps = cs.flatMap(({ id, row: c }) =>
    c.endpoints.map((e, ifindex) => ({ id, network_id: e.net.id, ifindex, ip: e.ip, mac: e.mac })),
  );
  const { rows: written } = await q.query<{ id: string; created_at: Date | string }>(
    `WITH r AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(k int, id uuid, tenant_id uuid, name text, image text, command jsonb, boot boolean,
         restart text, node_id uuid, memory_bytes bigint, cpu_millis int, pids_max int, reason text, description text, labels jsonb)),
     x AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, network_id uuid, ifindex int, ip inet, mac macaddr)),
     c AS (
       INSERT INTO containers (id, tenant_id, name, image, command, boot, restart, node_id, memory_bytes, cpu_millis, pids_max, reason,
                               description, labels)
       SELECT r.id, r.tenant_id, r.name, r.image, ARRAY(SELECT jsonb_array_elements_text(r.command)), r.boot, r.restart, r.node_id,
              r.memory_bytes, r.cpu_millis, r.pids_max, r.reason, r.description, r.labels
         FROM r
        WHERE NOT EXISTS (SELECT 1 FROM x JOIN endpoints o ON o.network_id = x.network_id AND o.mac = x.mac WHERE x.id = r.id)
        ORDER BY r.k
       RETURNING id, tenant_id, node_id, created_at),
     e AS (
       INSERT INTO endpoints (tenant_id, network_id, container_id, ifindex, ip, mac, node_id)
       SELECT c.tenant_id, x.network_id, c.id, x.ifindex, x.ip, x.mac, c.node_id FROM c JOIN x ON x.id = c.id)
     SELECT id::text, created_at FROM c`,
    [JSON.stringify(rows), JSON.stringify(eps)],
  );
  return written.map((w) => ({ id: w.id, createdAt: at(w.created_at) }));
}

/**
 * Writes the deferred creates (and empties the list). One whose allocated MAC repeats one on its
 * network (wide or physical networks) takes checked MACs instead and is written alone.
 */
export async function flushCreates(q: Queryable, deferred: DeferredCreate[] | undefined): Promise<void> {
  if (!deferred?.length) return;
  const batch = deferred.splice(0);
  const written = new Map((await insertMany(q, batch)).map((w) => [w.id, w.createdAt]));
  for (const d of batch) {
    let createdAt = written.get(d.id);
    if (createdAt === undefined) {
      for (const [i, e] of d.row.endpoints.entries()) {
        if (e.chosenMac) continue;
        e.mac = await allocateMac(q, e.net, e.ip);
        d.shown.endpoints[i].mac = e.mac;
      }
      createdAt = await insertWithEndpoints(q, d.row, d.id);
      if (createdAt === undefined) throw new Error(`create container ${d.row.name}: a MAC checked free was taken within the transaction`);
    }
    d.shown.createdAt = d.shown.updatedAt = createdAt;
  }
}
