import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { NodeView } from '../../protocol/view.js';
import {
  CAPS,
  quiet,
  Seed,
  startController,
  tempDir,
  TEST_SEALER,
  TEST_TLS,
  TestAgent,
  testDb,
  waitFor,
  type Controller,
} from '../../test/netns/push-harness.js';
import { ipsecKeyAad } from '../secrets/sealer.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { startKeyManager, type KeyManager } from '../keys/manager.js';
import type { Db } from '../store/db.js';

/**
 * Revocation (issue 14, finding 1) against PostgreSQL, real streams and the key manager: replica A
 * serves the REST API and a stream; replica B only streams. A revoked token or a deleted node loses
 * its stream within 1 s on whichever replica holds it, gets no key generated afterwards, and cannot
 * bring its node row back.
 */
const HB = 100;
const ADMIN = 'revoke-admin-token-0123456789abcdef0123456789';

let db: Db;
let url: string;
let drop: () => Promise<void> = async () => {};
let seed: Seed;
let api: FastifyInstance;
let apiUrl: string;
let other: Controller;
let km: KeyManager;
const agents: TestAgent[] = [];
const dirs: Array<{ rm(): void; dir: string }> = [];

function agent(streamUrl: string, token: string, node: string, ip: string): TestAgent {
  const d = tempDir();
  dirs.push(d);
  const a = new TestAgent(streamUrl, token, node, ip, d.dir, HB);
  agents.push(a);
  return a;
}
async function call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) {
  const r = await api.inject({ method, url: path, headers: { authorization: `Bearer ${ADMIN}` }, ...(body ? { payload: body } : {}) });
  return { status: r.statusCode, json: r.body ? JSON.parse(r.body) : undefined };
}
const tokenOf = async (node: string) =>
  (await db.query<{ id: string }>("SELECT id::text FROM tokens WHERE node_name = $1 AND kind = 'node' AND revoked_at IS NULL", [node]))
    .rows[0].id;
const keysIn = (views: NodeView[]) => new Set(views.flatMap((v) => Object.values(v.keys).flatMap((k) => [k.keyIn, k.keyOut])));
/** Keys the peers applied since `from` (view counts) that none of them had before: generated after it. */
function newKeys(peers: TestAgent[], from: number[]): Set<string> {
  const old = keysIn(peers.flatMap((p, i) => p.views.slice(0, from[i])));
  return new Set([...keysIn(peers.flatMap((p, i) => p.views.slice(from[i])))].filter((k) => !old.has(k)));
}
/** Key material of the rows created after `ms` (opened: the table holds it sealed). */
async function keysSince(ms: number): Promise<string[]> {
  const { rows } = await db.query<{
    network_id: string;
    node_a: string;
    node_b: string;
    generation: number;
    key_ab: string;
    key_ba: string;
  }>(
    'SELECT network_id::text, node_a::text, node_b::text, generation, key_ab, key_ba FROM ipsec_keys WHERE created_at > to_timestamp($1::float8 / 1000)',
    [ms],
  );
  return rows.flatMap((r) => {
    const id = { networkId: r.network_id, nodeA: r.node_a, nodeB: r.node_b, generation: r.generation };
    return [TEST_SEALER.open(r.key_ab, ipsecKeyAad(id, 'ab')), TEST_SEALER.open(r.key_ba, ipsecKeyAad(id, 'ba'))];
  });
}
/** Polls every 5 ms; the time it took. */
async function within(what: string, ms: number, pred: () => boolean | Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  await waitFor(what, pred, ms);
  return Date.now() - t0;
}

beforeAll(async () => {
  ({ db, url, drop } = await testDb());
  seed = new Seed(db);
  await ensureAdminToken(db, ADMIN);
  api = await buildApp({
    db,
    log: quiet,
    https: { cert: TEST_TLS.cert, key: TEST_TLS.key },
    keys: TEST_SEALER,
    pushOptions: { heartbeatMs: HB, flushMs: 30 },
  });
  const at = await api.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `${at.replace('http', 'ws')}/v1/agent/stream`;
  other = await startController(db, { heartbeatMs: HB, flushMs: 30 });
});
afterAll(async () => {
  await km?.close();
  for (const a of agents) await a.stop();
  await other?.close();
  await api?.close();
  for (const d of dirs) d.rm();
  await drop();
});

describe('revocation of node tokens', () => {
  let a: TestAgent, b: TestAgent, r: TestAgent, s: TestAgent;

  it('a revoked stream closes within 1 s, the node is NotReady, and it gets no key generated after the revocation', async () => {
    const t = await seed.tenant('acme');
    const sec = await seed.network(t, 'sec', 500, '10.5.0.0/24', 'ipsec');
    const nodes = { na: '198.18.5.1', nb: '198.18.5.2', nr: '198.18.5.3', ns: '198.18.5.4' };
    const tok: Record<string, string> = {};
    let i = 10;
    for (const [name, ip] of Object.entries(nodes)) {
      const n = await seed.node(name, ip);
      tok[name] = n.token;
      await seed.attach(t, sec, `c-${name}`, n.id, `10.5.0.${i++}`);
    }
    a = agent(apiUrl, tok.na, 'na', nodes.na);
    b = agent(apiUrl, tok.nb, 'nb', nodes.nb);
    r = agent(apiUrl, tok.nr, 'nr', nodes.nr);
    s = agent(other.url, tok.ns, 'ns', nodes.ns); // on replica B
    for (const x of [a, b, r, s]) await x.start();
    km = await startKeyManager({ db, log: quiet, sealer: TEST_SEALER, databaseUrl: url, pollMs: 30 });
    const steady = (x: TestAgent, n: number) =>
      Object.values(x.view.keys).filter((k) => k.phase === 'active').length === n && Object.keys(x.view.keys).length === n;
    await waitFor('generation 1 active everywhere', () => [a, b, r, s].every((x) => steady(x, 3)), 15_000);

    const before = [a.views.length, b.views.length, s.views.length];
    const id = await tokenOf('nr');
    const t0 = Date.now();
    const res = await call('DELETE', `/v1/tokens/${id}`);
    expect(res.status).toBe(200);
    const revokedAt = new Date(res.json.revokedAt).getTime();
    await within('revoked stream closed', 1000, () => !r.session.connected);
    const took = Date.now() - t0; // from the request, not its answer
    expect(took).toBeLessThan(1000);
    if (process.env.FREIGHT_TEST_FIGURES) process.stderr.write(`revoked stream closed after ${took} ms\n`);
    // closed by the replica because of the revocation (not by the agent's own silence detection)
    expect((await api.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^freight_push_revoked_closes_total 1$/m);
    await waitFor('NotReady', async () => !(await seed.nodeRow('nr')).ready, 1000);

    // its pairs are dropped by the peers; a rotation now completes without it
    expect((await call('POST', '/v1/tenants/acme/networks/sec/rotate-keys')).status).toBe(202);
    await waitFor(
      'rotation done without nr',
      async () =>
        (await db.query('SELECT 1 FROM ipsec_rotations')).rows.length === 0 &&
        [a, b, s].every((x) => steady(x, 2) && Object.values(x.view.keys).every((k) => k.peer !== 'nr' && k.generation === 2)),
      15_000,
    );
    const later = newKeys([a, b, s], before);
    for (const k of await keysSince(revokedAt)) later.add(k);
    expect(later.size).toBeGreaterThan(0);
    const held = keysIn(r.views);
    expect([...later].filter((k) => held.has(k))).toEqual([]);
    const nr = (await db.query<{ id: string }>("SELECT id FROM nodes WHERE name = 'nr'")).rows[0].id;
    expect((await db.query('SELECT 1 FROM ipsec_keys WHERE node_a = $1 OR node_b = $1', [nr])).rows).toHaveLength(0);
    // it keeps trying and is refused (401) at every attempt
    await new Promise((res) => setTimeout(res, 600));
    expect(r.session.connected).toBe(false);
    expect((await seed.nodeRow('nr')).ready).toBe(false);
  });

  it('the same when the stream is on the other replica than the one that revoked', async () => {
    const before = [a.views.length, b.views.length];
    const sViews = s.views.length;
    const res = await call('DELETE', `/v1/tokens/${await tokenOf('ns')}`);
    const revokedAt = new Date(res.json.revokedAt).getTime();
    expect(await within('stream on replica B closed', 1000, () => !s.session.connected)).toBeLessThan(1000);
    expect(other.hub.connected()).not.toContain('ns');
    expect((await call('POST', '/v1/tenants/acme/networks/sec/rotate-keys')).status).toBe(202);
    await waitFor(
      'rotation done without ns',
      async () =>
        (await db.query('SELECT 1 FROM ipsec_rotations')).rows.length === 0 &&
        [a, b].every(
          (x) =>
            Object.keys(x.view.keys).length === 1 && Object.values(x.view.keys).every((k) => k.generation === 3 && k.phase === 'active'),
        ),
      15_000,
    );
    const later = newKeys([a, b], before);
    expect(later.size).toBeGreaterThan(0);
    for (const k of await keysSince(revokedAt)) later.add(k);
    const held = keysIn(s.views);
    expect([...later].filter((k) => held.has(k))).toEqual([]);
    // nothing at all reached it after the close
    await new Promise((res) => setTimeout(res, 300));
    expect(s.views.length).toBe(sViews);
    expect((await seed.nodeRow('ns')).ready).toBe(false);
  });

  it('deleting a node revokes its token; the node cannot come back, even with its token un-revoked', async () => {
    // the README flow: the admin creates the node's token, which registers the node
    const created = await call('POST', '/v1/tokens', { kind: 'node', node: 'nd' });
    expect(created.status).toBe(201);
    expect((await call('GET', '/v1/nodes/nd')).json).toMatchObject({ name: 'nd', ready: false, underlayIp: '0.0.0.0' });
    const d = agent(other.url, created.json.token, 'nd', '198.18.5.9');
    await d.start();
    await waitFor('nd ready', async () => (await seed.nodeRow('nd'))?.ready === true);
    expect((await call('GET', '/v1/nodes/nd')).json.underlayIp).toBe('198.18.5.9');

    expect((await call('DELETE', '/v1/nodes/nd')).status).toBe(204);
    expect(await within('stream of the deleted node closed', 1000, () => !d.session.connected)).toBeLessThan(1000);
    const tokens = (await call('GET', '/v1/tokens?limit=500')).json.items as Array<{ id: string; revokedAt: string | null }>;
    expect(tokens.find((x) => x.id === created.json.id)?.revokedAt).not.toBeNull();
    await new Promise((res) => setTimeout(res, 800)); // the agent retries meanwhile
    expect((await call('GET', '/v1/nodes/nd')).status).toBe(404);

    // even a token that is valid again (a restore, a bug) does not recreate the row
    await db.query('UPDATE tokens SET revoked_at = NULL WHERE id = $1', [created.json.id]);
    const refused = await new Promise<{ code?: number; msgs: string[] }>((resolve) => {
      const msgs: string[] = [];
      const ws = new WebSocket(other.url, { headers: { authorization: `Bearer ${created.json.token}` }, ca: TEST_TLS.ca });
      ws.on('open', () =>
        ws.send(JSON.stringify({ type: 'hello', node: 'nd', underlayIp: '198.18.5.9', revision: 0, capabilities: CAPS })),
      );
      ws.on('message', (m) => msgs.push(m.toString()));
      ws.on('close', (code) => resolve({ code, msgs }));
      ws.on('error', () => resolve({ msgs }));
    });
    expect(refused.code).toBe(1008);
    expect(JSON.parse(refused.msgs[0])).toMatchObject({ type: 'error', code: 'not_registered' });
    await new Promise((res) => setTimeout(res, 300));
    expect((await db.query("SELECT 1 FROM nodes WHERE name = 'nd'")).rows).toHaveLength(0);
    await d.stop();
  });

  it('a periodic check closes a stream whose revocation never reached the change log', async () => {
    const quick = await startController(db, { heartbeatMs: HB, flushMs: 30, tokenCheckMs: 200 });
    try {
      const n = await seed.node('nq', '198.18.5.10');
      const q = agent(quick.url, n.token, 'nq', '198.18.5.10');
      await q.start();
      await waitFor('nq connected', () => quick.hub.connected().includes('nq'));
      // a revocation that bypasses the triggers (no change row, no notification)
      await db.tx(async (x) => {
        await x.query('SET LOCAL session_replication_role = replica');
        await x.query("UPDATE tokens SET revoked_at = now() WHERE node_name = 'nq'");
      });
      expect(await within('closed by the periodic check', 1500, () => !q.session.connected)).toBeLessThan(1500);
      await q.stop();
    } finally {
      await quick.close();
    }
  });
});
