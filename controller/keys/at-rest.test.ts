import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDb, type Db } from '../store/db.js';
import { createSealer } from '../secrets/sealer.js';
import { checkMasterKey, sealPlaintextKeys } from './at-rest.js';
import { loadState } from '../view/load.js';

describe('ipsec keys at rest (PGlite)', () => {
  let db: Db;
  const sealer = createSealer(randomBytes(32));
  const KEY_AB = 'ab'.repeat(20);
  const KEY_BA = 'ba'.repeat(20);
  beforeAll(async () => {
    db = await openDb({});
    await migrate(db);
    const t = (await db.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('acme') RETURNING id")).rows[0].id;
    const n = (
      await db.query<{ id: string }>(
        "INSERT INTO networks (tenant_id, name, type, vni, cidr) VALUES ($1, 'sec', 'ipsec', 9, '10.0.0.0/24') RETURNING id",
        [t],
      )
    ).rows[0].id;
    const ids = (
      await db.query<{ id: string }>("INSERT INTO nodes (name, underlay_ip) VALUES ('a', '198.18.0.1'), ('b', '198.18.0.2') RETURNING id")
    ).rows
      .map((r) => r.id)
      .sort();
    // a row as an older controller wrote it: in clear
    await db.query(
      'INSERT INTO ipsec_keys (network_id, node_a, node_b, generation, spi_ab, spi_ba, key_ab, key_ba) VALUES ($1, $2, $3, 1, 300, 301, $4, $5)',
      [n, ids[0], ids[1], KEY_AB, KEY_BA],
    );
  });
  afterAll(async () => db?.close());

  it('seals rows stored in clear, the loader opens them, and another master key is refused at start', async () => {
    expect(await sealPlaintextKeys(db, sealer)).toBe(1);
    expect(await sealPlaintextKeys(db, sealer)).toBe(0);
    const table = JSON.stringify((await db.query('SELECT key_ab, key_ba FROM ipsec_keys')).rows);
    expect(table).not.toContain(KEY_AB);
    expect(table).not.toContain(KEY_BA);
    const { state } = await db.tx((q) => loadState(q, sealer));
    expect([...state.keys.values()].map((k) => [k.keyAb, k.keyBa])).toEqual([[KEY_AB, KEY_BA]]);
    await expect(checkMasterKey(db, sealer)).resolves.toBeUndefined();
    await expect(checkMasterKey(db, createSealer(randomBytes(32)))).rejects.toThrow(
      /does not open the ipsec keys in the database: every replica needs the same key/,
    );
    // a plaintext controller loads no key row at all
    expect((await db.tx((q) => loadState(q, null))).state.keys.size).toBe(0);
  });
});
