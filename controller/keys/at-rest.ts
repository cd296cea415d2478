/** ipsec key material at rest: sealed in ipsec_keys (controller/secrets/sealer.ts). Runs as the table owner. */
import type { Db } from '../store/db.js';
import { ipsecKeyAad, SEALED_PREFIX, SealError, type Sealer } from '../secrets/sealer.js';

interface Row {
  id: string;
  network_id: string;
  node_a: string;
  node_b: string;
  generation: number;
  key_ab: string;
  key_ba: string;
}
const ROW = 'SELECT id::text, network_id::text, node_a::text, node_b::text, generation, key_ab, key_ba FROM ipsec_keys';
const aadOf = (r: Row, dir: 'ab' | 'ba') =>
  ipsecKeyAad({ networkId: r.network_id, nodeA: r.node_a, nodeB: r.node_b, generation: Number(r.generation) }, dir);

/**
 * Refuses a master key that does not open the sealed rows already there (a replica with
 * another key, a lost key file), before anything is served or written with it.
 */
export async function checkMasterKey(db: Db, sealer: Sealer): Promise<void> {
  const { rows } = await db.query<Row>(`${ROW} WHERE key_ab LIKE '${SEALED_PREFIX}%' LIMIT 1`);
  if (!rows[0]) return;
  try {
    sealer.open(rows[0].key_ab, aadOf(rows[0], 'ab'));
  } catch {
    throw new SealError(
      'master_key_mismatch',
      `the master key (id ${sealer.keyId}) does not open the ipsec keys in the database: every replica needs the same key ` +
        '(FREIGHT_MASTER_KEY, FREIGHT_KEY_FILE or <state dir>/master.key); restore it from the backup',
    );
  }
}

/** Seals rows written by an older controller in clear. Returns how many. */
export async function sealPlaintextKeys(db: Db, sealer: Sealer): Promise<number> {
  return db.tx(async (q) => {
    const { rows } = await q.query<Row>(
      `${ROW} WHERE key_ab NOT LIKE '${SEALED_PREFIX}%' OR key_ba NOT LIKE '${SEALED_PREFIX}%' FOR UPDATE`,
    );
    for (const r of rows) {
      const seal = (v: string, dir: 'ab' | 'ba') => (v.startsWith(SEALED_PREFIX) ? v : sealer.seal(v, aadOf(r, dir)));
      await q.query('UPDATE ipsec_keys SET key_ab = $2, key_ba = $3 WHERE id = $1', [r.id, seal(r.key_ab, 'ab'), seal(r.key_ba, 'ba')]);
    }
    return rows.length;
  });
}
