import type { Db, Queryable } from '../store/db.js';
import { ipsecKeyAad, type Sealer } from '../secrets/sealer.js';
import { mintMaterial, spisByDestination, type Random } from './material.js';
import type { KeyAction, KeyState, PlanInput } from './plan.js';

/** SQL of the key manager. It runs as the table owner: freight_api has no right on ipsec_keys. */

type Raw = Record<string, unknown>;

/** The planner's input from one consistent snapshot (REPEATABLE READ), clock included. */
export async function loadPlanInput(db: Db, rotateAfterMs: number): Promise<PlanInput> {
  return db.tx(async (q) => {
    await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const hosted = await q.query<Raw>(
      `SELECT DISTINCT e.network_id::text AS network, e.node_id::text AS node
         FROM endpoints e JOIN networks n ON n.id = e.network_id
        WHERE n.type = 'ipsec' AND e.node_id IS NOT NULL
          -- a node without a valid token (revoked) is in no pair: its peers drop the keys it holds
          AND EXISTS (SELECT 1 FROM nodes nd JOIN tokens k ON k.node_name = nd.name AND k.kind = 'node' AND k.revoked_at IS NULL
                       WHERE nd.id = e.node_id)`,
    );
    const keys = await q.query<Raw>(
      `SELECT id::text, network_id::text, node_a::text, node_b::text, generation, phase, revision::text,
              (extract(epoch FROM created_at) * 1000)::float8 AS created FROM ipsec_keys`,
    );
    const nodes = await q.query<Raw>('SELECT id::text, applied_revision::text AS applied FROM nodes');
    const reqs = await q.query<Raw>(
      'SELECT network_id::text AS network, (extract(epoch FROM requested_at) * 1000)::float8 AS at FROM ipsec_rotations',
    );
    const now = await q.query<Raw>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now');
    const periods = await q.query<Raw>(
      "SELECT id::text AS network, rotate_hours FROM networks WHERE type = 'ipsec' AND rotate_hours IS NOT NULL",
    );
    const hosts = new Map<string, Set<string>>();
    for (const r of hosted.rows) {
      const net = String(r.network);
      if (!hosts.has(net)) hosts.set(net, new Set());
      hosts.get(net)!.add(String(r.node));
    }
    return {
      now: Number(now.rows[0].now),
      rotateAfterMs,
      rotateAfter: new Map(periods.rows.map((r) => [String(r.network), Number(r.rotate_hours) * 3_600_000])),
      hosts,
      keys: keys.rows.map(toKey),
      applied: new Map(nodes.rows.map((r) => [String(r.id), Number(r.applied)])),
      requests: new Map(reqs.rows.map((r) => [String(r.network), Number(r.at)])),
    };
  });
}

const toKey = (r: Raw): KeyState => ({
  id: String(r.id),
  networkId: String(r.network_id),
  nodeA: String(r.node_a),
  nodeB: String(r.node_b),
  generation: Number(r.generation),
  phase: r.phase as KeyState['phase'],
  revision: Number(r.revision),
  createdAt: Number(r.created),
});

/** Stamps rows with the change-log revision this transaction's last trigger drew (ours: record_change holds its lock to commit). */
async function stampRevision(q: Queryable, ids: string[]): Promise<void> {
  await q.query("UPDATE ipsec_keys SET revision = currval('change_log_revision_seq') WHERE id = ANY($1::uuid[])", [ids]);
}

/** Applies one action in its own transaction; conditional on the state it was planned from. */
export async function applyAction(db: Db, a: KeyAction, sealer: Sealer, random?: Random): Promise<void> {
  await db.tx(async (q) => {
    switch (a.kind) {
      case 'create': {
        const { rows } = await q.query<Raw>('SELECT node_a::text, node_b::text, spi_ab, spi_ba FROM ipsec_keys');
        const inUse = spisByDestination(
          rows.map((r) => ({ nodeA: String(r.node_a), nodeB: String(r.node_b), spiAb: Number(r.spi_ab), spiBa: Number(r.spi_ba) })),
        );
        const m = mintMaterial(a.nodeA, a.nodeB, inUse, random);
        const ins = await q.query<{ id: string }>(
          `INSERT INTO ipsec_keys (network_id, node_a, node_b, generation, spi_ab, spi_ba, key_ab, key_ba, phase)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'inbound') ON CONFLICT DO NOTHING RETURNING id`,
          [
            a.networkId,
            a.nodeA,
            a.nodeB,
            a.generation,
            m.spiAb,
            m.spiBa,
            sealer.seal(m.keyAb, ipsecKeyAad(a, 'ab')),
            sealer.seal(m.keyBa, ipsecKeyAad(a, 'ba')),
          ],
        );
        if (ins.rows[0]) await stampRevision(q, [ins.rows[0].id]);
        return;
      }
      case 'activate': {
        await q.query("UPDATE ipsec_keys SET phase = 'retiring' WHERE id = ANY($1::uuid[]) AND phase = 'active'", [a.retire]);
        const up = await q.query("UPDATE ipsec_keys SET phase = 'active' WHERE id = $1 AND phase = 'inbound' RETURNING id", [a.id]);
        if (up.rows.length > 0) await stampRevision(q, [a.id, ...a.retire]);
        return;
      }
      case 'delete':
        await q.query('DELETE FROM ipsec_keys WHERE id = ANY($1::uuid[])', [a.ids]);
        return;
      case 'request done':
        await q.query(
          `DELETE FROM ipsec_rotations
          WHERE network_id = $1 AND requested_at <= to_timestamp($2::float8 / 1000) + interval '1 millisecond'`,
          [a.networkId, a.requestedAt],
        );
    }
  });
}
