import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../store/db.js';
import { compileView } from '../view/compile.js';
import { readChanges } from '../view/load.js';
import { ClusterModel } from './model.js';
import { openDb } from '../store/db.js';
import { startStallProxy } from '../../test/support/stall-proxy.js';
import { Seed, startController, tempDir, TestAgent, testDb, waitFor, type Controller } from '../../test/netns/push-harness.js';

const HB = 100;
let db: Db;
let url = '';
let drop: () => Promise<void> = async () => {};
let seed: Seed;
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  ({ db, drop, url } = await testDb());
  seed = new Seed(db);
});
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
  await drop();
});

async function controller(opts = {}): Promise<Controller> {
  const c = await startController(db, { heartbeatMs: HB, flushMs: 50, ...opts });
  cleanup.push(() => c.close());
  return c;
}
function agent(url: string, token: string, node: string, ip: string, dir: string): TestAgent {
  const a = new TestAgent(url, token, node, ip, dir, HB);
  cleanup.push(() => a.stop());
  return a;
}
function dir(): string {
  const d = tempDir();
  cleanup.push(() => d.rm());
  return d.dir;
}

describe('replicas and resume', () => {
  it('a change through replica A reaches an agent connected to replica B', async () => {
    const t = await seed.tenant('ta');
    const net = await seed.network(t, 'n', 300);
    const n1 = await seed.node('r1', '198.18.1.1');
    const n2 = await seed.node('r2', '198.18.1.2');
    await seed.attach(t, net, 'c1', n1.id, '10.0.0.5');
    const a = await controller();
    const b = await controller();
    const onB = agent(b.url, n1.token, 'r1', '198.18.1.1', dir());
    const onA = agent(a.url, n2.token, 'r2', '198.18.1.2', dir());
    await onB.start();
    await onA.start();
    await waitFor('both connected', () => b.hub.connected().includes('r1') && a.hub.connected().includes('r2'));
    // a change to r2's side (as replica A's API would make it) reaches r1 on replica B
    const c2 = await seed.attach(t, net, 'c2', n2.id, '10.0.0.6');
    await waitFor('B pushed the endpoint', () => onB.view.endpoints[c2.endpoint] !== undefined);
    await waitFor('A pushed the container', () => onA.view.containers[c2.container] !== undefined);
    expect(onB.view.networks[net].flood).toEqual(['198.18.1.2']);
    expect(onA.view.networks[net].flood).toEqual(['198.18.1.1']);
    expect(onB.errors).toEqual([]);
    await onA.stop();
    await onB.stop();
  });

  it('a restarted agent resumes with a delta while the log covers its revision, else with a snapshot', async () => {
    const ctl = await controller({ retention: { rows: 1, ms: 0 }, pruneEveryMs: 3_600_000 });
    const t = await seed.tenant('tb');
    const net = await seed.network(t, 'n', 301);
    const n = await seed.node('s1', '198.18.2.1');
    const peer = await seed.node('s2', '198.18.2.2');
    await seed.attach(t, net, 'own', n.id, '10.0.0.5');
    const d = dir();
    let a = agent(ctl.url, n.token, 's1', '198.18.2.1', d);
    await a.start();
    await waitFor('snapshot', () => a.applied.some((x) => x.how === 'snapshot'));
    await a.stop(); // "killed": nothing flushed, view.json holds the last applied revision
    const at = a.session.revision;

    const p1 = await seed.attach(t, net, 'p1', peer.id, '10.0.0.6');
    a = agent(ctl.url, n.token, 's1', '198.18.2.1', d);
    await a.start();
    await waitFor('resumed', () => a.view.endpoints[p1.endpoint] !== undefined);
    expect(a.applied[0]).toMatchObject({ how: 'delta' });
    expect(a.applied[0].revision).toBeGreaterThan(at);
    await a.stop();

    // more changes, then the log is pruned past the agent's revision
    const p2 = await seed.attach(t, net, 'p2', peer.id, '10.0.0.7');
    await db.query('DELETE FROM endpoints WHERE id = $1', [p1.endpoint]);
    await ctl.hub.catchUp();
    expect(await ctl.hub.prune()).toBeGreaterThan(0);
    a = agent(ctl.url, n.token, 's1', '198.18.2.1', d);
    await a.start();
    await waitFor('resumed again', () => a.view.endpoints[p2.endpoint] !== undefined);
    expect(a.applied[0]).toMatchObject({ how: 'snapshot' });
    expect(a.view.endpoints[p1.endpoint]).toBeUndefined();
    expect(a.errors).toEqual([]);
    await a.stop();
  });

  it('agents that lose their replica come back on another at the same revision: one change-log read for all, a delta each', async () => {
    const a = await controller();
    const b = await startController(db, { heartbeatMs: HB, flushMs: 50 });
    const t = await seed.tenant('te');
    const net = await seed.network(t, 'n', 302);
    const peer = await seed.node('u0', '198.18.3.100');
    const nodes = await Promise.all([1, 2, 3].map((i) => seed.node(`u${i}`, `198.18.3.${i}`)));
    for (const [i, n] of nodes.entries()) await seed.attach(t, net, `own${i}`, n.id, `10.0.0.${i + 1}`);
    const as = nodes.map((n, i) => {
      const x = new TestAgent(b.url, n.token, `u${i + 1}`, `198.18.3.${i + 1}`, dir(), HB, { urls: [b.url, a.url] });
      cleanup.push(() => x.stop());
      return x;
    });
    for (const x of as) await x.start();
    await waitFor('all on B', () => as.every((x) => b.hub.connected().includes(x.node)));
    // readiness is written by B's next flush (a change-log row each): after it, nothing changes
    await waitFor('all ready', async () => (await Promise.all(as.map((x) => seed.nodeRow(x.node)))).every((r) => r.ready));
    const newest = await seed.newestRevision();
    await waitFor('all at the newest revision', () => as.every((x) => x.session.revision === newest));
    const reads = async () => Number(/^freight_push_resume_reads_total (\S+)$/m.exec(await a.hub.metrics())?.[1]);
    const before = await reads();
    const since = as.map((x) => x.applied.length);
    await b.close(); // the replica goes away; its agents' nodes stay ready
    const p = await seed.attach(t, net, 'p', peer.id, '10.0.0.100');
    await a.hub.catchUp();
    for (const x of as) await waitFor('resumed on A', () => x.view.endpoints[p.endpoint] !== undefined);
    expect(as.every((x) => a.hub.connected().includes(x.node))).toBe(true);
    for (const [i, x] of as.entries()) {
      const after = x.applied.slice(since[i]).map((e) => e.how);
      expect(after).toContain('delta');
      expect(after).not.toContain('snapshot');
    }
    expect(as.flatMap((x) => x.applied).filter((e) => e.how === 'snapshot')).toHaveLength(as.length); // the first ones, on B
    expect((await reads()) - before).toBe(1);
    for (const x of as) expect(x.errors).toEqual([]);
  });

  it('a replica whose cursor fell behind a pruned log rebuilds its model and brings its live agents to it', async () => {
    // replica A reaches the database through a proxy that can go silent: it misses the changes and
    // the pruning B does meanwhile, and sees the log pruned past its cursor when the proxy forwards again
    const u = new URL(url);
    const proxy = await startStallProxy(u.hostname, Number(u.port || 5432));
    cleanup.push(() => proxy.close());
    const adb = await openDb({ databaseUrl: proxy.via(url), poolSize: 4 });
    cleanup.push(() => adb.close());
    const a = await startController(adb, { heartbeatMs: HB, flushMs: 50 });
    cleanup.push(() => a.close());
    const b = await controller({ retention: { rows: 1, ms: 0 }, pruneEveryMs: 3_600_000 });
    const t = await seed.tenant('tf');
    const net = await seed.network(t, 'n', 303);
    const n = await seed.node('v1', '198.18.4.1');
    const peer = await seed.node('v2', '198.18.4.2');
    await seed.attach(t, net, 'own', n.id, '10.0.0.5');
    const p1 = await seed.attach(t, net, 'p1', peer.id, '10.0.0.6');
    const x = agent(a.url, n.token, 'v1', '198.18.4.1', dir());
    await x.start();
    await waitFor('p1 on the agent', () => x.view.endpoints[p1.endpoint] !== undefined);
    proxy.stall();
    const since = x.applied.length;
    const p2 = await seed.attach(t, net, 'p2', peer.id, '10.0.0.7');
    await db.query('DELETE FROM endpoints WHERE id = $1', [p1.endpoint]);
    await b.hub.catchUp();
    expect(await b.hub.prune()).toBeGreaterThan(0);
    proxy.forward();
    await waitFor('rebuilt view on the agent', () => x.view.endpoints[p2.endpoint] !== undefined && !x.view.endpoints[p1.endpoint], 10_000);
    const truth = compileView((await ClusterModel.load(db, null)).state, 'v1', 0);
    expect(Object.keys(x.view.endpoints).sort()).toEqual(Object.keys(truth.endpoints).sort());
    // the rebuild reached the agent as a delta, never a snapshot; pings for later rows (the node's
    // own readiness, written by A's flush) may follow it
    const after = x.applied.slice(since).map((e) => e.how);
    expect(after).toContain('delta');
    expect(after).not.toContain('snapshot');
    expect(x.errors).toEqual([]);
  });

  it('reads change-log rows in numeric revision order across digit boundaries (9 < 10 < 100)', async () => {
    const t = await seed.tenant('td');
    for (let i = 0; i < 12; i++) await seed.container(t, `o${i}`, null);
    const revs = (await readChanges(db, 0)).map((r) => r.revision);
    expect(revs.length).toBeGreaterThan(12);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
  });
});
