import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { NodeView } from '../../protocol/view.js';
import {
  quiet,
  Seed,
  TEST_SEALER,
  startController,
  tempDir,
  TestAgent,
  testDb,
  waitFor,
  type Controller,
} from '../../test/netns/push-harness.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import type { Db } from '../store/db.js';
import { startKeyManager, type KeyManager } from './manager.js';

/**
 * The key lifecycle at the controller level (this kernel has no ESP): a real controller stream,
 * three recording agents, the key manager on PostgreSQL. Node B applies slowly, so a step that
 * did not wait for both acks would show up in the order of what the agents applied.
 */
const HB = 100;
const ADMIN = 'keys-admin';

let db: Db;
let url: string;
let drop: () => Promise<void> = async () => {};
let ctl: Controller;
let app: FastifyInstance;
let km: KeyManager | undefined;
const agents: TestAgent[] = [];
const dirs: Array<{ rm(): void; dir: string }> = [];
/** Every view any agent applied, in order: node and its keys summary. */
const log: Array<{ node: string; keys: string }> = [];

const summary = (v: NodeView) =>
  Object.values(v.keys)
    .sort((a, b) => a.generation - b.generation)
    .map((k) => `g${k.generation}:${k.phase}`)
    .join(' ');

function agent(token: string, node: string, ip: string, delayMs = 0): TestAgent {
  const d = tempDir();
  dirs.push(d);
  const a: TestAgent = new TestAgent(ctl.url, token, node, ip, d.dir, HB, {
    onView: async (view: NodeView) => {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      a.views.push(view);
      log.push({ node, keys: summary(view) });
    },
  });
  agents.push(a);
  return a;
}

/** Distinct consecutive key summaries one node went through. */
const history = (node: string) =>
  log
    .filter((e) => e.node === node)
    .map((e) => e.keys)
    .filter((k, i, all) => i === 0 || all[i - 1] !== k);

beforeAll(async () => {
  ({ db, url, drop } = await testDb());
  await ensureAdminToken(db, ADMIN);
  ctl = await startController(db, { heartbeatMs: HB, flushMs: 30 });
  app = await buildApp({ db, log: quiet, push: false });
});
afterAll(async () => {
  await km?.close();
  for (const a of agents) await a.stop();
  await app?.close();
  await ctl?.close();
  for (const d of dirs) d.rm();
  await drop();
});

describe('ipsec key lifecycle over the real stream', () => {
  const seen = new Set<string>();
  let seed: Seed;
  let b: { container: string; endpoint: string };

  it('installs generation 1 inbound on both nodes before either sends with it; node C never sees keys', async () => {
    seed = new Seed(db);
    const t = await seed.tenant('acme');
    const sec = await seed.network(t, 'sec', 300, '10.0.0.0/24', 'ipsec');
    const plain = await seed.network(t, 'plain', 301, '10.1.0.0/24', 'vxlan');
    const A = await seed.node('na', '198.18.0.1');
    const B = await seed.node('nb', '198.18.0.2');
    const C = await seed.node('nc', '198.18.0.3');
    await seed.attach(t, sec, 'a', A.id, '10.0.0.10');
    b = await seed.attach(t, sec, 'b', B.id, '10.0.0.11');
    await seed.attach(t, plain, 'c', C.id, '10.1.0.12');
    await seed.attach(t, plain, 'a2', A.id, '10.1.0.10');
    const [a, bb, c] = [agent(A.token, 'na', '198.18.0.1'), agent(B.token, 'nb', '198.18.0.2', 150), agent(C.token, 'nc', '198.18.0.3')];
    for (const x of [a, bb, c]) await x.start();
    await waitFor('agents connected', () => ctl.hub.connected().length === 3);

    km = await startKeyManager({ db, log: quiet, sealer: TEST_SEALER, databaseUrl: url, pollMs: 30 });
    await waitFor('generation 1 active on both', () => summary(a.view) === 'g1:active' && summary(bb.view) === 'g1:active', 10_000);
    expect(km.leading()).toBe(true);
    expect(history('na')).toEqual(['', 'g1:inbound', 'g1:active']);
    expect(history('nb')).toEqual(['', 'g1:inbound', 'g1:active']);
    // the slow node B had applied inbound before A was told to send with it
    expect(log.findIndex((e) => e.node === 'nb' && e.keys === 'g1:inbound')).toBeLessThan(
      log.findIndex((e) => e.node === 'na' && e.keys === 'g1:active'),
    );

    const ka = Object.values(a.view.keys)[0];
    const kb = Object.values(bb.view.keys)[0];
    expect(ka).toMatchObject({
      peer: 'nb',
      peerIp: '198.18.0.2',
      network: sec,
      spiOut: kb.spiIn,
      spiIn: kb.spiOut,
      keyOut: kb.keyIn,
      keyIn: kb.keyOut,
    });
    expect(kb.peer).toBe('na');
    expect(Math.min(ka.spiOut, ka.spiIn)).toBeGreaterThanOrEqual(0x100);
    expect(ka.keyOut).toMatch(/^[0-9a-f]{40}$/);
    expect(ka.keyOut).not.toBe(ka.keyIn);
    for (const k of [ka.keyIn, ka.keyOut]) seen.add(k);
    expect(c.views.length).toBeGreaterThan(0);
    expect(c.views.every((v) => Object.keys(v.keys).length === 0)).toBe(true);
  });

  it('rotates on request with overlap: inbound, then active + retiring, then removal, each step after both acks', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/tenants/acme/networks/sec/rotate-keys',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(res.statusCode).toBe(202);
    const [a, bb, c] = agents;
    await waitFor('generation 2 alone', () => summary(a.view) === 'g2:active' && summary(bb.view) === 'g2:active', 10_000);
    const steps = ['g1:active', 'g1:active g2:inbound', 'g1:retiring g2:active', 'g2:active'];
    expect(history('na').slice(-4)).toEqual(steps);
    expect(history('nb').slice(-4)).toEqual(steps);
    for (let i = 1; i < steps.length; i++) {
      const bHad = log.findIndex((e) => e.node === 'nb' && e.keys === steps[i - 1]);
      const aNext = log.findIndex((e) => e.node === 'na' && e.keys === steps[i]);
      expect(bHad, `B applied "${steps[i - 1]}" before A got "${steps[i]}"`).toBeLessThan(aNext);
    }
    for (const v of [...a.views, ...bb.views]) for (const k of Object.values(v.keys)) seen.add(k.keyIn).add(k.keyOut);
    expect(seen.size).toBe(4); // two generations, two directions
    expect(c.views.every((v) => Object.keys(v.keys).length === 0)).toBe(true);
    await waitFor('request consumed', async () => (await db.query('SELECT 1 FROM ipsec_rotations')).rows.length === 0);
  });

  it('never returns key material through the API or the audit log', async () => {
    const gets = [
      '/v1/tenants',
      '/v1/tenants/acme',
      '/v1/tenants/acme/networks',
      '/v1/tenants/acme/networks/sec',
      '/v1/tenants/acme/containers',
      '/v1/tenants/acme/containers/a',
      '/v1/tenants/acme/endpoints',
      '/v1/nodes',
      '/v1/nodes/na',
      '/v1/status',
      '/v1/tokens',
      '/v1/audit',
      '/openapi.json',
      '/metrics',
    ];
    for (const path of gets) {
      const r = await app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${ADMIN}` } });
      expect(r.statusCode, path).toBe(200);
      for (const k of seen) expect(r.body, path).not.toContain(k);
    }
    const audit = JSON.stringify((await db.query('SELECT * FROM audit_log')).rows);
    for (const k of seen) expect(audit).not.toContain(k);
  });

  it('keeps key material sealed at rest: the ipsec key table holds no key the agents received', async () => {
    const { rows } = await db.query<{ key_ab: string; key_ba: string }>('SELECT key_ab, key_ba FROM ipsec_keys');
    expect(rows.length).toBeGreaterThan(0);
    const table = JSON.stringify(rows);
    for (const r of rows) for (const v of [r.key_ab, r.key_ba]) expect(v).toMatch(/^fr1:[A-Za-z0-9+/]+=*$/);
    for (const k of seen) {
      expect(table).not.toContain(k);
      expect(table).not.toContain(Buffer.from(k, 'hex').toString('base64').slice(0, 20));
    }
  });

  it('removes the pair keys when a node no longer hosts the network', async () => {
    await db.query('DELETE FROM containers WHERE id = $1', [b.container]);
    const [a, bb] = agents;
    await waitFor('keys gone', () => Object.keys(a.view.keys).length === 0 && Object.keys(bb.view.keys).length === 0, 10_000);
    expect((await db.query('SELECT 1 FROM ipsec_keys')).rows).toHaveLength(0);
    for (const x of agents) expect(x.errors).toEqual([]);
  });

  it('lets only one key manager lead at a time', async () => {
    const second = await startKeyManager({ db, log: quiet, sealer: TEST_SEALER, databaseUrl: url, standbyMs: 50 });
    try {
      await second.pass();
      expect(second.leading()).toBe(false);
      await km!.close();
      km = undefined;
      await waitFor('standby takes over', () => second.leading(), 3000);
    } finally {
      await second.close();
    }
  });
});
