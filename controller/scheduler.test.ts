import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../test/support/pg.js';
import { assignMany, chooseNode, portKey, schedulePending, unplacedReason, type NodeLoad } from './scheduler.js';
import { migrate, openDb, type Db } from './store/db.js';

const n = (name: string, ready: boolean, containers: number): NodeLoad => ({ id: `id-${name}`, name, ready, containers, physical: [] });

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
  it('passes over a node where a published port is taken, also by an earlier container of the batch', () => {
    const k = portKey({ proto: 'tcp', hostPort: 8080 });
    const a = { ...n('a', true, 0), taken: new Set([k]) };
    expect(chooseNode([a, n('b', true, 5)], [], [k])?.name).toBe('b');
    expect(chooseNode([a], [], [k])).toBeNull();
    expect(chooseNode([a], [], [portKey({ proto: 'udp', hostPort: 8080 })])?.name).toBe('a');
    // two containers asking for tcp/8080 on two free nodes: one each; a third finds none
    expect(assignMany([n('a', true, 0), n('b', true, 0)], [[], [], []], [[k], [k], [k]]).map((x) => x?.name ?? null)).toEqual([
      'a',
      'b',
      null,
    ]);
    expect(unplacedReason([], [a], [k])).toMatch(/^published port tcp\/8080 is taken on every eligible node/);
    expect(unplacedReason([], [], [k])).toBe('no ready node');
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

  it('a container moving to a node where its published port is taken stays pending with a reason; the others are placed', async () => {
    await db.query('DELETE FROM containers; DELETE FROM nodes');
    const { rows: t } = await db.query<{ id: string }>("SELECT id FROM tenants WHERE name = 's'");
    const { rows: net } = await db.query<{ id: string }>("SELECT id FROM networks WHERE name = 'n'");
    const { rows: nodes } = await db.query<{ id: string; name: string }>(
      "INSERT INTO nodes (name, underlay_ip, ready) VALUES ('a', '198.18.0.1', true), ('b', '198.18.0.2', true) RETURNING id, name",
    );
    const id = (name: string) => nodes.find((x) => x.name === name)!.id;
    const make = async (name: string, ip: string, node: string | null, port?: number) => {
      const { rows: c } = await db.query<{ id: string }>(
        "INSERT INTO containers (tenant_id, name, image, node_id) VALUES ($1, $2, 'busybox', $3) RETURNING id",
        [t[0].id, name, node],
      );
      await db.query('INSERT INTO endpoints (tenant_id, network_id, container_id, ip, mac, node_id) VALUES ($1, $2, $3, $4, $5, $6)', [
        t[0].id,
        net[0].id,
        c[0].id,
        ip,
        `02:00:00:00:01:${ip.split('.')[3].padStart(2, '0')}`,
        node,
      ]);
      if (port !== undefined)
        await db.query(
          "INSERT INTO published_ports (container_id, tenant_id, proto, host_port, port, node_id) VALUES ($1, $2, 'tcp', $3, 80, $4)",
          [c[0].id, t[0].id, port, node],
        );
      return c[0].id;
    };
    await make('x', '10.0.0.11', id('a'), 8080);
    const y = await make('y', '10.0.0.12', id('b'), 8080);
    await make('z', '10.0.0.13', id('b'));
    // node b goes (its containers become pending, as DELETE /v1/nodes/b does): y cannot take 8080 on a, z can go there
    await db.query(
      'UPDATE containers SET node_id = NULL WHERE node_id = $1; UPDATE endpoints SET node_id = NULL WHERE node_id = $1'.replace(
        /\$1/g,
        `'${id('b')}'`,
      ),
    );
    await db.query('DELETE FROM nodes WHERE id = $1', [id('b')]);
    expect(await schedulePending(db)).toBe(1);
    const show = async (name: string) =>
      (
        await db.query<{ node: string | null; reason: string | null; port_node: string | null }>(
          `SELECT nd.name AS node, c.reason, (SELECT p.node_id::text FROM published_ports p WHERE p.container_id = c.id) AS port_node
             FROM containers c LEFT JOIN nodes nd ON nd.id = c.node_id WHERE c.name = $1`,
          [name],
        )
      ).rows[0];
    expect(await show('z')).toMatchObject({ node: 'a', reason: null });
    const pending = await show('y');
    expect(pending.node).toBeNull();
    expect(pending.port_node).toBeNull();
    expect(pending.reason).toMatch(/^published port tcp\/8080 is taken on every eligible node/);
    // a node where the port is free arrives: y goes there, its port with it
    const { rows: c } = await db.query<{ id: string }>(
      "INSERT INTO nodes (name, underlay_ip, ready) VALUES ('c', '198.18.0.3', true) RETURNING id",
    );
    expect(await schedulePending(db)).toBe(1);
    expect(await show('y')).toMatchObject({ node: 'c', reason: null, port_node: c[0].id });
    expect(y).toBeTruthy();
  });
});
