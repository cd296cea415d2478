import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Capabilities } from '../../protocol/stream.js';
import { emptyView, type NodeView } from '../../protocol/view.js';
import { backoffDelay } from './backoff.js';
import { AgentSession } from './session.js';
import { testCaps } from '../../test/support/caps.js';

// A scripted controller: the agent's ordering and persistence rules are what is tested here;
// the real controller is exercised in controller/push/*.test.ts.
const caps: Capabilities = testCaps();
const net = {
  id: 'n',
  tenant: 't',
  name: 'n',
  type: 'vxlan' as const,
  vni: 1,
  cidr: '10.0.0.0/24',
  gateway: null,
  mtu: 1450,
  domain: 'd',
  flood: [],
};
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function scripted() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const hellos: Array<Record<string, unknown>> = [];
  const acks: number[] = [];
  const conns: WebSocket[] = [];
  wss.on('connection', (ws) => {
    conns.push(ws);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'hello') hellos.push(m);
      if (m.type === 'ack') acks.push(m.revision);
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  );
  const port = (wss.address() as { port: number }).port;
  return { url: `ws://127.0.0.1:${port}`, hellos, acks, conns, send: (m: unknown) => conns[conns.length - 1].send(JSON.stringify(m)) };
}

function session(url: string, dir: string, onView: (v: NodeView) => Promise<void>, heartbeatMs = 1000, urls?: string[]) {
  const s = new AgentSession({
    url,
    urls,
    token: 't',
    node: 'a',
    underlayIp: '198.18.9.1',
    underlayMtu: 1500,
    capabilities: caps,
    stateDir: dir,
    onView,
    heartbeatMs,
    backoff: { minMs: 20, maxMs: 40 },
    allowPlaintext: true,
  });
  cleanups.push(() => s.stop());
  return s;
}

async function until(pred: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('AgentSession', () => {
  it('applies in order, persists before acking, resyncs on a gap and resumes from view.json', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'freight-session-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ctl = await scripted();
    const seen: number[] = [];
    const s = session(ctl.url, dir, async (v) => void seen.push(v.revision));
    await s.start();
    await until(() => ctl.hellos.length === 1);
    expect(ctl.hellos[0]).toMatchObject({ node: 'a', revision: 0 });
    ctl.send({ type: 'snapshot', revision: 5, view: { ...emptyView('a', '198.18.9.1'), networks: { n: net } } });
    await until(() => ctl.acks.includes(5));
    expect(JSON.parse(readFileSync(path.join(dir, 'view.json'), 'utf8')).revision).toBe(5);
    ctl.send({ type: 'delta', from: 5, revision: 7, ops: [{ kind: 'networks', id: 'n', value: { ...net, mtu: 1400 } }] });
    await until(() => ctl.acks.includes(7));
    expect(s.currentView.networks.n.mtu).toBe(1400);
    // a gap: from 9 while we are at 7 → not applied; the agent reconnects with revision 7
    ctl.send({ type: 'delta', from: 9, revision: 10, ops: [{ kind: 'networks', id: 'n' }] });
    await until(() => ctl.hellos.length === 2);
    expect(ctl.hellos[1]).toMatchObject({ revision: 7 });
    expect(s.currentView.networks.n).toBeDefined();
    expect(seen).toEqual([5, 7]);
    // a ping with a newer revision is adopted and acked once everything before it is applied
    ctl.send({ type: 'ping', revision: 12, t: 0 });
    await until(() => ctl.acks.includes(12));
    await s.stop();
    // a restarted agent says where it was
    const again = session(ctl.url, dir, async () => {});
    await again.start();
    await until(() => ctl.hellos.length === 3);
    expect(ctl.hellos[2]).toMatchObject({ revision: 12 });
    expect(again.currentView.networks.n.mtu).toBe(1400);
  });

  it('says in its next hello the revision a commit of the previous connection finished at', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'freight-session-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ctl = await scripted();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let applying = false;
    const s = session(ctl.url, dir, async () => {
      applying = true;
      await gate;
    });
    await s.start();
    await until(() => ctl.hellos.length === 1);
    ctl.send({ type: 'snapshot', revision: 5, view: emptyView('a', '198.18.9.1') });
    await until(() => applying);
    // the connection drops while the snapshot is being applied; the agent reconnects at once
    ctl.conns[0].terminate();
    await new Promise((r) => setTimeout(r, 200));
    release();
    await until(() => ctl.hellos.length === 2);
    expect(s.revision).toBe(5);
    expect(ctl.hellos[1]).toMatchObject({ revision: 5 });
  });

  it('does not persist or ack a view its apply rejected, and keeps the previous one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'freight-session-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ctl = await scripted();
    let fail = true;
    const s = session(ctl.url, dir, async () => {
      if (fail) throw new Error('netlink says no');
    });
    await s.start();
    await until(() => ctl.hellos.length === 1);
    ctl.send({ type: 'snapshot', revision: 3, view: emptyView('a', '198.18.9.1') });
    await until(() => ctl.hellos.length === 2);
    expect(ctl.acks).toEqual([]);
    expect(s.revision).toBe(0);
    fail = false;
    ctl.send({ type: 'snapshot', revision: 3, view: emptyView('a', '198.18.9.1') });
    await until(() => ctl.acks.includes(3));
  });

  it("judges the controller's silence on the controller's interval, not its own, and still notices real silence", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'freight-session-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ctl = await scripted();
    // the agent beats every 100 ms (300 ms of silence would be too much); the controller every 400 ms and says so
    const s = session(ctl.url, dir, async () => {}, 100);
    await s.start();
    await until(() => ctl.hellos.length === 1);
    ctl.send({ type: 'snapshot', revision: 1, view: emptyView('a', '198.18.9.1') });
    const beat = setInterval(() => ctl.conns.length === 1 && ctl.send({ type: 'ping', revision: 1, t: 0, every: 400 }), 400);
    cleanups.push(() => clearInterval(beat));
    ctl.send({ type: 'ping', revision: 1, t: 0, every: 400 });
    await new Promise((r) => setTimeout(r, 2000));
    expect(ctl.hellos.length).toBe(1);
    // the controller stops beating: the agent gives up after 3 of its intervals (1.2 s) and reconnects
    clearInterval(beat);
    const quiet = Date.now();
    await until(() => ctl.hellos.length === 2, 4000);
    // the last ping came at most 400 ms before: 1.2 s after it is at least 0.8 s from here, far past our own 0.3 s
    expect(Date.now() - quiet).toBeGreaterThanOrEqual(700);
  });

  it('rotates through the replicas: a refused one costs a backoff step, a closed stream moves to the next', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'freight-sess-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const a = await scripted();
    const b = await scripted();
    // the first URL refuses connections (nothing listens there)
    const s = session('ws://127.0.0.1:1', dir, async () => {}, 1000, [a.url, b.url]);
    await s.start();
    await until(() => a.hellos.length === 1);
    expect([s.url, b.hellos.length]).toEqual([a.url, 0]);
    // replica a drops the stream (a restart): the agent goes on to b, not back to a
    a.conns[0].terminate();
    await until(() => b.hellos.length === 1);
    expect([s.url, a.hellos.length]).toEqual([b.url, 1]);
    // b drops it too: round to the refused one, then a again
    b.conns[0].terminate();
    await until(() => a.hellos.length === 2);
    expect(s.url).toBe(a.url);
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelay(0, 100, 5000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 5000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 5000, () => 1)).toBe(800);
    expect(backoffDelay(30, 100, 5000, () => 1)).toBe(5000);
  });
});
