import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Db } from '../store/db.js';
import {
  CAPS,
  Seed,
  TEST_TLS,
  startController,
  tempDir,
  TestAgent,
  testDb,
  waitFor,
  type Controller,
} from '../../test/netns/push-harness.js';

const HB = 100;
let db: Db;
let drop: () => Promise<void> = async () => {};
let seed: Seed;
const dirs: Array<ReturnType<typeof tempDir>> = [];
const agents: TestAgent[] = [];
const ctls: Controller[] = [];

function agent(url: string, token: string, node: string, ip: string, dir?: string, extra = {}): TestAgent {
  const d = dir ?? dirs[dirs.push(tempDir()) - 1].dir;
  const a = new TestAgent(url, token, node, ip, d, HB, extra);
  agents.push(a);
  return a;
}
async function controller(opts = {}, port = 0, onReady?: (n: string) => Promise<void>): Promise<Controller> {
  const c = await startController(db, { heartbeatMs: HB, flushMs: 50, ...opts }, port, onReady);
  ctls.push(c);
  return c;
}

/** Raw ws client: the messages it got, and its close code. */
async function rawClient(
  url: string,
  token: string,
  first: unknown,
): Promise<{ msgs: Array<Record<string, unknown>>; code?: number; status?: number }> {
  return new Promise((resolve) => {
    const msgs: Array<Record<string, unknown>> = [];
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, ca: TEST_TLS.ca });
    ws.on('open', () => ws.send(typeof first === 'string' ? first : JSON.stringify(first)));
    ws.on('message', (d) => msgs.push(JSON.parse(d.toString())));
    ws.on('unexpected-response', (_req, res) => resolve({ msgs, status: res.statusCode }));
    ws.on('close', (code) => resolve({ msgs, code }));
  });
}

beforeAll(async () => {
  ({ db, drop } = await testDb());
  seed = new Seed(db);
});
afterAll(async () => {
  for (const a of agents) await a.stop();
  for (const c of ctls) await c.close();
  for (const d of dirs) d.rm();
  await drop();
});

describe('agent stream', () => {
  let red: string, blue: string, netRed: string, netBlue: string;
  let n1: { id: string; token: string }, n2: { id: string; token: string }, n3: { id: string; token: string };
  let ctl: Controller;

  beforeAll(async () => {
    red = await seed.tenant('red');
    blue = await seed.tenant('blue');
    netRed = await seed.network(red, 'web', 100);
    netBlue = await seed.network(blue, 'db', 200);
    n1 = await seed.node('n1', '198.18.0.1');
    n2 = await seed.node('n2', '198.18.0.2');
    n3 = await seed.node('n3', '198.18.0.3');
    await seed.attach(red, netRed, 'a', n1.id, '10.0.0.10');
    await seed.attach(blue, netBlue, 'x', n3.id, '10.0.0.10');
    ctl = await controller();
  });

  it('sends a snapshot of only the hosted tenant, then deltas; acks reach the nodes table', async () => {
    const a1 = agent(ctl.url, n1.token, 'n1', '198.18.0.1');
    const a3 = agent(ctl.url, n3.token, 'n3', '198.18.0.3');
    await a1.start();
    await a3.start();
    await waitFor('snapshots', () => a1.applied.length > 0 && a3.applied.length > 0);
    expect(a1.applied[0].how).toBe('snapshot');
    expect(Object.values(a1.view.networks).map((n) => n.name)).toEqual(['web']);
    expect(JSON.stringify(a1.view)).not.toContain(netBlue);
    expect(Object.values(a3.view.networks).map((n) => n.name)).toEqual(['db']);

    const b = await seed.attach(red, netRed, 'b', n2.id, '10.0.0.11');
    await waitFor('delta to n1', () => a1.view.endpoints[b.endpoint] !== undefined);
    expect(a1.view.networks[netRed].flood).toEqual(['198.18.0.2']);
    expect(a1.view.endpoints[b.endpoint]).toMatchObject({ node: 'n2', vtep: '198.18.0.2', ip: '10.0.0.11' });
    // n3 hosts nothing of red: it got no delta at all
    const before = a3.applied.length;
    await new Promise((r) => setTimeout(r, 3 * HB));
    expect(a3.applied.slice(before).every((x) => x.how === 'ping')).toBe(true);
    expect(JSON.stringify(a3.view)).not.toContain(netRed);

    const newest = await seed.newestRevision();
    await waitFor('applied = desired = newest in nodes', async () => {
      const r = await seed.nodeRow('n1');
      return Number(r.applied_revision) === newest && Number(r.desired_revision) === newest && r.ready;
    });
    expect(a1.errors).toEqual([]);
    // the delta's ack was timed from its commit
    expect(await ctl.hub.metrics()).toMatch(/^freight_push_commit_to_ack_seconds_count [1-9]\d*$/m);
  });

  it('sends ops1 deltas only to an agent whose hello lists it; both decode to the same ops', async () => {
    const listen = (token: string, node: string, ip: string, encodings?: string[]) => {
      const msgs: Array<Record<string, unknown>> = [];
      const ws = new WebSocket(ctl.url, { headers: { authorization: `Bearer ${token}` }, ca: TEST_TLS.ca });
      ws.on('open', () =>
        ws.send(
          JSON.stringify({ type: 'hello', node, underlayIp: ip, revision: 0, capabilities: CAPS, ...(encodings ? { encodings } : {}) }),
        ),
      );
      ws.on('message', (d) => msgs.push(JSON.parse(d.toString())));
      return { ws, msgs };
    };
    // nodes of their own (the other tests' agents hold n1–n3), each hosting a container of web
    const n4 = await seed.node('n4', '198.18.0.4');
    const n5 = await seed.node('n5', '198.18.0.5');
    await seed.attach(red, netRed, 'd4', n4.id, '10.0.0.14');
    await seed.attach(red, netRed, 'd5', n5.id, '10.0.0.15');
    const plain = listen(n4.token, 'n4', '198.18.0.4');
    const compact = listen(n5.token, 'n5', '198.18.0.5', ['ops1', 'zstd-someday']);
    await waitFor('snapshots', () => plain.msgs.some((m) => m.type === 'snapshot') && compact.msgs.some((m) => m.type === 'snapshot'));
    const c = await seed.attach(red, netRed, 'e', n4.id, '10.0.0.16');
    const deltaWith = (l: typeof plain) =>
      l.msgs.find((m) => (m.type === 'delta' || m.d !== undefined) && JSON.stringify(m).includes('10.0.0.16'));
    await waitFor('deltas', () => deltaWith(plain) !== undefined && deltaWith(compact) !== undefined);
    const p = deltaWith(plain)!;
    const k = deltaWith(compact)!;
    expect(p.ops).toBeDefined();
    expect(k.ops).toBeUndefined();
    expect(k.c).toBeDefined();
    const { decodeMessage } = await import('../../protocol/compact-ops.js');
    const ep = (m: Record<string, unknown>) => (m.ops as Array<{ kind: string; id: string }>).find((o) => o.id === c.endpoint);
    const decoded = decodeMessage(k) as Record<string, unknown>;
    expect(decoded).toMatchObject({ type: 'delta', revision: p.revision });
    expect(ep(decoded)).toEqual(ep(p));
    expect(JSON.stringify(k).length).toBeLessThan(JSON.stringify(p).length);
    plain.ws.close();
    compact.ws.close();
  });

  it('a burst of commits, paced, reaches the agent whole and in order, also its removals', async () => {
    const n9 = await seed.node('n9', '198.18.0.9');
    const a9 = agent(ctl.url, n9.token, 'n9', '198.18.0.9');
    await a9.start();
    await waitFor('snapshot', () => a9.applied.length > 0);
    const before = a9.applied.filter((x) => x.how !== 'ping').length;
    // 40 creates committed at once: catch-ups read many rows each, so fan-outs are paced
    const made = await Promise.all(
      Array.from({ length: 40 }, (_, i) => seed.attach(red, netRed, `burst-${i}`, i % 2 ? n9.id : n2.id, `10.0.0.${100 + i}`)),
    );
    await waitFor('all 40 endpoints', () => made.every((m) => a9.view.endpoints[m.endpoint] !== undefined));
    const deltas = a9.applied.filter((x) => x.how !== 'ping').length - before;
    expect(deltas).toBeGreaterThan(0);
    expect(deltas).toBeLessThan(40);
    await db.query("DELETE FROM containers WHERE name LIKE 'burst-%'");
    await waitFor('all 40 removed', () => made.every((m) => a9.view.endpoints[m.endpoint] === undefined));
    await waitFor('at the newest revision', async () => a9.applied.at(-1)!.revision === (await seed.newestRevision()));
    expect(a9.errors).toEqual([]);
  });

  it('a fan-out that yields to I/O: no heartbeat announces a revision before its delta', async () => {
    const yielding = await controller({ fanoutChunk: 1 });
    // 140 nodes on a network of their own, each hosting one endpoint of it; this controller's
    // fan-outs yield after every connection (fanoutChunk 1), so heartbeat ticks land inside them
    const green = await seed.tenant('green');
    const net = await seed.network(green, 'mesh', 300, '10.7.0.0/16');
    const clients: Array<{ ws: WebSocket; msgs: Array<{ type: string; revision: number }> }> = [];
    const nodes: string[] = [];
    for (let i = 0; i < 140; i++) {
      const n = await seed.node(`m${i}`, `198.18.${1 + (i >> 7)}.${(i & 127) + 1}`);
      nodes.push(n.id);
      await seed.attach(green, net, `m${i}`, n.id, `10.7.0.${i + 1}`);
      const msgs: Array<{ type: string; revision: number }> = [];
      const ws = new WebSocket(yielding.url, { headers: { authorization: `Bearer ${n.token}` }, ca: TEST_TLS.ca });
      ws.on('open', () =>
        ws.send(
          JSON.stringify({
            type: 'hello',
            node: `m${i}`,
            underlayIp: `198.18.${1 + (i >> 7)}.${(i & 127) + 1}`,
            revision: 0,
            capabilities: CAPS,
          }),
        ),
      );
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        msgs.push(m);
        if (m.type === 'delta' || m.type === 'snapshot') ws.send(JSON.stringify({ type: 'ack', revision: m.revision }));
      });
      // heartbeats as an agent sends them: a silent stream is dropped after three intervals
      const beat = setInterval(
        () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'ping', t: Date.now(), every: HB })),
        HB / 2,
      );
      ws.on('close', () => clearInterval(beat));
      clients.push({ ws, msgs });
    }
    await waitFor('140 snapshots', () => clients.every((c) => c.msgs.some((m) => m.type === 'snapshot')), 10_000);
    // heartbeats tick every 10 ms (HB / 10 slices) while these fan out
    const revisions: number[] = [];
    for (let i = 0; i < 15; i++) {
      const { endpoint } = await seed.attach(green, net, `x${i}`, nodes[i], `10.7.1.${i + 1}`);
      // the endpoint's own row (the newest row may be a node's bookkeeping, which needs no delta)
      const logged = await db.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log WHERE object_id = $1', [endpoint]);
      revisions.push(Number(logged.rows[0].r));
      await new Promise((r) => setTimeout(r, 7));
    }
    const last = revisions.at(-1)!;
    await waitFor('every client at the last revision', () =>
      clients.every((c) => c.msgs.some((m) => m.type === 'delta' && m.revision >= last)),
    );
    for (const c of clients)
      for (const r of revisions) {
        const delta = c.msgs.findIndex((m) => m.type === 'delta' && m.revision >= r);
        const ping = c.msgs.findIndex((m) => m.type === 'ping' && m.revision >= r);
        expect(delta).toBeGreaterThanOrEqual(0);
        if (ping >= 0) expect(ping).toBeGreaterThan(delta);
      }
    for (const c of clients) c.ws.close();
  });

  it("judges an agent's silence on the interval its pings announce, pings at once after the resume, and says its own", async () => {
    const n6 = await seed.node('n6', '198.18.0.6');
    const msgs: Array<Record<string, unknown>> = [];
    let closed = false;
    const ws = new WebSocket(ctl.url, { headers: { authorization: `Bearer ${n6.token}` }, ca: TEST_TLS.ca });
    const ping = () => ws.readyState === ws.OPEN && ws.send(JSON.stringify({ type: 'ping', t: 0, every: 500 }));
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', node: 'n6', underlayIp: '198.18.0.6', revision: 0, capabilities: CAPS }));
      ping();
    });
    ws.on('message', (d) => msgs.push(JSON.parse(d.toString())));
    ws.on('close', () => (closed = true));
    // the controller beats every 100 ms (300 ms of silence); this agent every 500 ms: it is not silent
    const beat = setInterval(ping, 500);
    try {
      await waitFor('snapshot', () => msgs.some((m) => m.type === 'snapshot'));
      const first = msgs.findIndex((m) => m.type === 'snapshot');
      expect(msgs[first + 1]).toMatchObject({ type: 'ping', every: HB });
      await new Promise((r) => setTimeout(r, 1500));
      expect(closed).toBe(false);
      clearInterval(beat);
      await waitFor('closed once really silent', () => closed, 4000);
    } finally {
      clearInterval(beat);
      ws.terminate();
    }
  });

  it('rejects a hello for another node, a bad token and an invalid message, and keeps serving', async () => {
    const wrong = await rawClient(ctl.url, n1.token, {
      type: 'hello',
      node: 'n2',
      underlayIp: '198.18.0.2',
      revision: 0,
      capabilities: CAPS,
    });
    expect(wrong.msgs).toEqual([expect.objectContaining({ type: 'error', code: 'forbidden' })]);
    expect(wrong.code).toBe(1008);
    const bad = await rawClient(ctl.url, 'not-a-token', { type: 'hello' });
    expect(bad.status).toBe(401);
    const junk = await rawClient(ctl.url, n2.token, '{"type":"hello","node":42');
    expect(junk.msgs[0]).toMatchObject({ type: 'error', code: 'bad_message' });
    const early = await rawClient(ctl.url, n2.token, { type: 'ack', revision: 3 });
    expect(early.msgs[0]).toMatchObject({ type: 'error', code: 'bad_message' });
    // the controller still works for the agents it has
    const c = await seed.attach(red, netRed, 'c', n1.id, '10.0.0.12');
    const a1 = agents.find((a) => a.node === 'n1')!;
    await waitFor('delta after bad clients', () => a1.view.endpoints[c.endpoint] !== undefined);
  });

  it('stores container status only for containers on the reporting node', async () => {
    const a1 = agents.find((a) => a.node === 'n1')!;
    const mine = Object.keys(a1.view.containers)[0];
    const other = (await db.query<{ id: string }>(`SELECT id FROM containers WHERE node_id = $1`, [n3.id])).rows[0].id;
    a1.session.sendStatus([
      { id: mine, state: 'running', exitCode: null, reason: null, restarts: 2 },
      { id: other, state: 'failed', exitCode: 1, reason: 'forged', restarts: 0 },
    ]);
    const state = async (id: string) =>
      (await db.query<{ observed_state: string; restarts: number }>('SELECT observed_state, restarts FROM containers WHERE id = $1', [id]))
        .rows[0];
    await waitFor('status saved', async () => (await state(mine)).observed_state === 'running');
    expect((await state(mine)).restarts).toBe(2);
    expect((await state(other)).observed_state).toBe('pending');
  });

  it('answers logs requests through the agent, with a timeout', async () => {
    const d = tempDir();
    dirs.push(d);
    let hang = false;
    const quick = await controller({ logsTimeoutMs: 200 });
    const a2 = agent(quick.url, await seed.token('n2'), 'n2', '198.18.0.2', d.dir, {
      onLogs: async (id: string, tail: number) => (hang ? new Promise<string>(() => {}) : `logs of ${id} tail ${tail}`),
    });
    await a2.start();
    await waitFor('n2 connected', () => quick.hub.connected().includes('n2'));
    await expect(quick.hub.requestLogs('n2', 'abc', 5)).resolves.toBe('logs of abc tail 5');
    hang = true;
    await expect(quick.hub.requestLogs('n2', 'abc', 5)).rejects.toMatchObject({ code: 'timeout' });
    await expect(quick.hub.requestLogs('nx', 'abc', 5)).rejects.toMatchObject({ code: 'node_unavailable' });
    await a2.stop();
  });

  it('answers infra-counters requests through the agent (its error as node_unavailable); never asks an agent that did not offer them', async () => {
    const d = tempDir();
    dirs.push(d);
    let fail = false;
    const counters = { dhcpLeases: 2, dhcpAnswers: 4, dhcpPackets: 4, dhcpErrors: 0, dnsQueries: 9, dnsErrors: 1, dnsForwarded: 0 };
    const quick = await controller({ logsTimeoutMs: 200 });
    const a2 = agent(quick.url, await seed.token('n2'), 'n2', '198.18.0.2', d.dir, {
      onInfraCounters: async () => {
        if (fail) throw new Error('metrics socket: ENOENT');
        return counters;
      },
    });
    await a2.start();
    await waitFor('n2 connected', () => quick.hub.connected().includes('n2'));
    await expect(quick.hub.requestInfraCounters('n2', 'abc')).resolves.toEqual(counters);
    fail = true;
    await expect(quick.hub.requestInfraCounters('n2', 'abc')).rejects.toMatchObject({ code: 'node_unavailable', message: /ENOENT/ });
    await a2.stop();
    // an agent without the handler says nothing of them in its hello: the controller does not send the request
    const old = agent(quick.url, await seed.token('n2'), 'n2', '198.18.0.2', d.dir);
    await old.start();
    await waitFor('n2 connected again', () => quick.hub.connected().includes('n2'));
    await expect(quick.hub.requestInfraCounters('n2', 'abc')).rejects.toMatchObject({ code: 'node_unavailable', message: /older agent/ });
    await old.stop();
  });

  it('marks a silent node NotReady after missed heartbeats, and ready again when it returns', async () => {
    const ready: string[] = [];
    const ctl2 = await controller({}, 0, async (n) => void ready.push(n));
    const a3 = agents.find((a) => a.node === 'n3')!;
    await a3.stop();
    await waitFor('n3 NotReady', async () => !(await seed.nodeRow('n3')).ready, 3000);
    const back = agent(ctl2.url, n3.token, 'n3', '198.18.0.3', a3.stateDir);
    await back.start();
    await waitFor('n3 ready again', async () => (await seed.nodeRow('n3')).ready, 3000);
    // the DB row is ready at hello; onNodeReady runs after the resume, a moment later
    await waitFor('onNodeReady(n3)', () => ready.includes('n3'), 3000);
    expect(ready).toContain('n3');
    // it resumed from its persisted revision: no snapshot needed
    await waitFor('n3 applied something', () => back.applied.length > 0);
    expect(back.applied.every((x) => x.how !== 'snapshot')).toBe(true);
  });

  it('marks a node NotReady as soon as its stream closes, long before the silence timeout; its return makes it ready', async () => {
    // heartbeats of 10 s: silence would take 30 s to notice; the other controllers (short heartbeats)
    // would mark it silent too, whichever replica it was on, so they go first
    while (ctls.length) await ctls.pop()!.close();
    const slow = await controller({ heartbeatMs: 10_000 });
    const nc = await seed.node('nc', '198.18.0.44');
    const a4 = agent(slow.url, nc.token, 'nc', '198.18.0.44');
    await a4.start();
    await waitFor('nc ready', async () => (await seed.nodeRow('nc')).ready, 3000);
    // fully connected: its snapshot applied and acked (a stream that dies mid-handshake is the silence check's)
    await waitFor(
      'nc applied its snapshot',
      async () => a4.applied.length > 0 && Number((await seed.nodeRow('nc')).applied_revision) > 0,
      3000,
    );
    const t0 = Date.now();
    await a4.stop();
    await waitFor('nc NotReady', async () => !(await seed.nodeRow('nc')).ready, 3000);
    expect(Date.now() - t0).toBeLessThan(2000);
    const back = agent(slow.url, nc.token, 'nc', '198.18.0.44', a4.stateDir);
    await back.start();
    await waitFor('nc ready again', async () => (await seed.nodeRow('nc')).ready, 3000);
    await back.stop();
  });
});
