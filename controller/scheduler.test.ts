import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../test/support/pg.js';
import { assignMany, chooseNode, schedulePending } from './scheduler.js';
import { migrate, openDb, type Db } from './store/db.js';

const n = (name: string, ready: boolean, containers: number) => ({ id: `id-${name}`, name, ready, containers });

describe('chooseNode / assignMany (pure)', () => {
  it('chooses the ready node with the fewest containers, by name on ties', () => {
    expect(chooseNode([n('a', true, 3), n('b', true, 1), n('c', false, 0)])?.name).toBe('b');
    expect(chooseNode([n('b', true, 1), n('a', true, 1)])?.name).toBe('a');
    expect(chooseNode([n('a', false, 0)])).toBeNull();
    expect(chooseNode([])).toBeNull();
  });
  it('spreads a batch so loads even out', () => {
    const plan = assignMany([n('a', true, 2), n('b', true, 0), n('c', false, 0)], 6).map((x) => x?.name);
    expect(plan.filter((x) => x === 'a')).toHaveLength(2);
    expect(plan.filter((x) => x === 'b')).toHaveLength(4);
    expect(assignMany([n('a', false, 0)], 2)).toEqual([null, null]);
  });
});

describe('schedulePending (PostgreSQL)', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  beforeAll(async () => {
    fresh = await freshDatabase();
    db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('places pending containers on ready nodes and mirrors the node onto their endpoints', async () => {
    const { rows: t } = await db.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('s') RETURNING id");
    const { rows: net } = await db.query<{ id: string }>(
      "INSERT INTO networks (tenant_id, name, type, vni, cidr) VALUES ($1, 'n', 'vxlan', 9, '10.0.0.0/24') RETURNING id",
      [t[0].id],
    );
    for (let i = 1; i <= 4; i++) {
      const { rows: c } = await db.query<{ id: string }>(
        "INSERT INTO containers (tenant_id, name, image) VALUES ($1, $2, 'busybox') RETURNING id",
        [t[0].id, `c${i}`],
      );
      await db.query('INSERT INTO endpoints (tenant_id, network_id, container_id, ip, mac) VALUES ($1, $2, $3, $4, $5)', [
        t[0].id,
        net[0].id,
        c[0].id,
        `10.0.0.${i}`,
        `02:00:00:00:00:0${i}`,
      ]);
    }
    expect(await schedulePending(db)).toBe(0); // no node at all
    await db.query(
      "INSERT INTO nodes (name, underlay_ip, ready) VALUES ('down', '198.18.0.9', false), ('a', '198.18.0.1', true), ('b', '198.18.0.2', true)",
    );
    expect(await schedulePending(db)).toBe(4);
    const { rows } = await db.query<{ node: string; n: string }>(
      'SELECT nd.name AS node, count(*) AS n FROM containers c JOIN nodes nd ON nd.id = c.node_id GROUP BY nd.name ORDER BY 1',
    );
    expect(rows.map((r) => [r.node, Number(r.n)])).toEqual([
      ['a', 2],
      ['b', 2],
    ]);
    const { rows: mismatch } = await db.query(
      'SELECT 1 FROM endpoints e JOIN containers c ON c.id = e.container_id WHERE e.node_id IS DISTINCT FROM c.node_id',
    );
    expect(mismatch).toHaveLength(0);
    expect(await schedulePending(db)).toBe(0);
  });
});
