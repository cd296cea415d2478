import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { PushOptions } from './options.js';
import type { Db } from '../store/db.js';
import { createAuthLimiter } from '../auth-limit.js';
import {
  CAPS,
  Seed,
  startController,
  tempDir,
  TEST_TLS,
  TestAgent,
  testDb,
  waitFor,
  type Controller,
} from '../../test/netns/push-harness.js';

/**
 * Backpressure (issue 14, finding 7) against PostgreSQL and real streams: a peer that stops reading
 * is dropped past the high-water mark and resyncs by snapshot; a peer that does not ack is NotReady;
 * the agent's own inbound queue is bounded; failed stream upgrades count into the auth limiter.
 */
const HB = 100;
let db: Db;
let dbUrl: string;
let drop: () => Promise<void> = async () => {};
let seed: Seed;
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  ({ db, drop, url: dbUrl } = await testDb());
  seed = new Seed(db);
});

/** A seeding statement over 12,000 rows and their change-log rows: it may take longer than an API statement may. */
const bulk = (sql: string, params: unknown[]) =>
  db.tx(async (q) => {
    await q.query('SET LOCAL statement_timeout = 0');
    await q.query(sql, params);
  });

afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
  await drop();
});

async function controller(opts = {}, extra = {}): Promise<Controller> {
  const c = await startController(db, { heartbeatMs: HB, flushMs: 30, ...opts }, 0, undefined, extra);
  cleanup.push(() => c.close());
  return c;
}

/** A raw stream client: says hello, sends a ping every heartbeat (so it never looks silent), records what it reads. */
class RawPeer {
  readonly ws: WebSocket;
  readonly msgs: Array<Record<string, unknown>> = [];
  closed = false;
  private beat: NodeJS.Timeout;
  constructor(url: string, token: string, hello: Record<string, unknown>, ca = TEST_TLS.ca) {
    this.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, ca });
    this.ws.on('open', () =>
      this.ws.send(JSON.stringify({ type: 'hello', underlayIp: '198.18.7.1', revision: 0, capabilities: CAPS, ...hello })),
    );
    this.ws.on('message', (d) => this.msgs.push(JSON.parse(d.toString())));
    this.ws.on('close', () => (this.closed = true));
    this.ws.on('error', () => {});
    this.beat = setInterval(
      () => this.ws.readyState === WebSocket.OPEN && this.ws.send(JSON.stringify({ type: 'ping', t: Date.now() })),
      HB / 2,
    );
    cleanup.push(() => this.stop());
  }
  /** Stops reading: the socket stays open and keeps sending pings. */
  pause(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }
  stop(): void {
    clearInterval(this.beat);
    this.ws.terminate();
  }
}

/** Value of the metric line `name` in Prometheus text. */
const metricIn = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
const metric = async (c: Controller, name: string) => metricIn(await c.hub.metrics(), name);

/** A push controller in its own process (test/netns/push-controller.ts): its RSS is its own. */
async function childController(options: PushOptions) {
  const child = fork(fileURLToPath(new URL('../../test/netns/push-controller.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  cleanup.push(() => void child.kill('SIGKILL'));
  const next = (type: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const on = (m: Record<string, unknown>) => m.type === type && (child.off('message', on), resolve(m));
      child.on('message', on);
    });
  const ready = next('ready');
  child.send({ databaseUrl: dbUrl, options });
  const r = await ready;
  return {
    url: r.url as string,
    ca: r.ca as string,
    async metrics(): Promise<{ text: string; rss: number }> {
      const m = next('metrics');
      child.send({ type: 'metrics' });
      const r = await m;
      return { text: r.text as string, rss: r.rss as number };
    },
    async retained(): Promise<number> {
      const m = next('retained');
      child.send({ type: 'retained' });
      return (await m).bytes as number;
    },
    async stop(): Promise<void> {
      const gone = new Promise((r) => child.once('exit', r));
      child.send({ type: 'stop' });
      await gone;
    },
  };
}

describe('backpressure', () => {
  it('drops a peer that stops reading past the high-water mark, keeps memory bounded, and resyncs it by snapshot', async () => {
    const t = await seed.tenant('bp');
    const net = await seed.network(t, 'n', 700, '10.64.0.0/16');
    const slow = await seed.node('slow', '198.18.7.1');
    const o1 = await seed.node('o1', '198.18.7.2');
    const o2 = await seed.node('o2', '198.18.7.3');
    await seed.attach(t, net, 'own', slow.id, '10.64.0.5');
    // 12,000 remote endpoints: the peer's snapshot (~5 MB) is read while it still reads
    const N = 12_000;
    await bulk(
      `WITH c AS (INSERT INTO containers (tenant_id, name, image, node_id)
                  SELECT $1, 'x' || i, 'busybox', $2 FROM generate_series(1, $3) i RETURNING id, name)
       INSERT INTO endpoints (tenant_id, network_id, container_id, mac, ip, node_id)
       SELECT $1, $4, c.id, ('02:10:00:' || lpad(to_hex(i >> 16), 2, '0') || ':' || lpad(to_hex((i >> 8) & 255), 2, '0') || ':' || lpad(to_hex(i & 255), 2, '0'))::macaddr,
              ('10.64.' || ((i + 256) >> 8) || '.' || ((i + 256) & 255))::inet, $2
         FROM c JOIN LATERAL (SELECT substr(c.name, 2)::int AS i) k ON true`,
      [t, o1.id, N, net],
    );
    // above one catch-up batch's delta (5000 rows, ~2 MB), far below what the rounds produce
    // (missedHeartbeats: parsing the big snapshot may stall this process's pings on a loaded machine)
    const ctl = await childController({ heartbeatMs: HB, missedHeartbeats: 50, flushMs: 30, highWaterBytes: 4 * 1024 * 1024 });
    const peer = new RawPeer(ctl.url, slow.token, { node: 'slow' }, ctl.ca);
    await waitFor('snapshot', () => peer.msgs.some((m) => m.type === 'snapshot'), 30_000);
    const snapRevision = peer.msgs.find((m) => m.type === 'snapshot')!.revision as number;
    expect(Object.keys((peer.msgs.find((m) => m.type === 'snapshot')!.view as { endpoints: object }).endpoints).length).toBe(N + 1);
    await new Promise((r) => setTimeout(r, 3 * HB)); // pings after it: the buffer is empty
    const rss0 = (await ctl.metrics()).rss;
    const kept0 = await ctl.retained();
    let rssPeak = rss0;
    let bufferedPeak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const m = await ctl.metrics();
        rssPeak = Math.max(rssPeak, m.rss);
        bufferedPeak = Math.max(bufferedPeak, metricIn(m.text, 'freight_push_buffered_bytes') || 0);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    peer.pause();
    // every round moves every remote endpoint to the other node: ~5 MB of delta for the peer each time
    for (let round = 0; round < 8; round++) {
      await bulk(
        'UPDATE endpoints SET node_id = CASE WHEN node_id = $1 THEN $2::uuid ELSE $1::uuid END WHERE network_id = $3 AND node_id <> $4',
        [o1.id, o2.id, net, slow.id],
      );
      const newest = await seed.newestRevision();
      await waitFor('hub caught up', async () => metricIn((await ctl.metrics()).text, 'freight_push_revision') >= newest, 30_000);
      await new Promise((r) => setTimeout(r, 2 * HB));
    }
    sampling = false;
    await sampler;
    const grew = rssPeak - rss0;
    const kept = (await ctl.retained()) - kept0;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    if (process.env.FREIGHT_TEST_FIGURES)
      process.stderr.write(
        `non-reading peer: buffered peak ${mib(bufferedPeak)} MiB, RSS peak +${mib(grew)} MiB, retained after the rounds +${mib(kept)} MiB\n`,
      );
    const text = (await ctl.metrics()).text;
    expect(metricIn(text, 'freight_push_overflow_drops_total')).toBeGreaterThanOrEqual(1);
    expect(metricIn(text, 'freight_push_agents_connected')).toBe(0);
    // one delta (~2 MB) may sit on top of the 4 MiB mark, never the ~40 MB the rounds produced
    expect(bufferedPeak).toBeLessThan(8 * 1024 * 1024);
    // nothing of the ~40 MB the rounds produced stays referenced for the peer (the rest of RSS is the model's churn)
    expect(kept).toBeLessThan(12 * 1024 * 1024);
    expect(grew).toBeLessThan(256 * 1024 * 1024);

    // it comes back where it was: a snapshot, not a delta, whatever revision it says
    const back = new RawPeer(ctl.url, slow.token, { node: 'slow', revision: snapRevision }, ctl.ca);
    await waitFor('resumed', () => back.msgs.length > 0, 20_000);
    expect(back.msgs[0].type).toBe('snapshot');
    back.stop();
    await ctl.stop();
  }, 180_000);

  it('marks a node that does not ack within the bound NotReady, and ready again once it acks', async () => {
    const n = await seed.node('mute', '198.18.7.9');
    const ctl = await controller({ ackTimeoutMs: 400 });
    const peer = new RawPeer(ctl.url, n.token, { node: 'mute', underlayIp: '198.18.7.9' });
    await waitFor('ready', async () => (await seed.nodeRow('mute')).ready && peer.msgs.some((m) => m.type === 'snapshot'));
    // it talks (pings) but never acks the snapshot
    await waitFor('NotReady for not acking', async () => !(await seed.nodeRow('mute')).ready, 3000);
    const rev = Math.max(...peer.msgs.map((m) => Number(m.revision ?? 0)));
    peer.ws.send(JSON.stringify({ type: 'ack', revision: rev }));
    await waitFor('ready after the ack', async () => (await seed.nodeRow('mute')).ready, 3000);
    expect(await metric(ctl, 'freight_push_ack_timeouts_total')).toBe(1);
    peer.stop();
  });

  it("bounds the agent's inbound queue: past it the queued deltas are dropped and it resyncs by snapshot", async () => {
    const t = await seed.tenant('iq');
    const net = await seed.network(t, 'n', 701, '10.65.0.0/16');
    const me = await seed.node('busy', '198.18.7.20');
    const peerNode = await seed.node('peer', '198.18.7.21');
    await seed.attach(t, net, 'own', me.id, '10.65.0.5');
    const ctl = await controller();
    let release!: () => void;
    let gate: Promise<void> | undefined;
    const d = tempDir();
    cleanup.push(() => d.rm());
    const a = new TestAgent(ctl.url, me.token, 'busy', '198.18.7.20', d.dir, HB, {
      maxQueuedBytes: 64 * 1024,
      onView: async (view) => {
        a.views.push(view);
        if (gate) await gate;
      },
    });
    cleanup.push(() => a.stop());
    await a.start();
    await waitFor('snapshot', () => a.applied.some((x) => x.how === 'snapshot'));
    gate = new Promise((r) => (release = r));
    // 10 commits of 200 endpoints (~80 kB of delta each) while the agent is stuck applying the first
    for (let k = 0; k < 10; k++) {
      await db.query(
        `WITH c AS (INSERT INTO containers (tenant_id, name, image, node_id)
                    SELECT $1, 'q' || ($4 * 1000 + i), 'busybox', $2 FROM generate_series(1, 200) i RETURNING id, name)
         INSERT INTO endpoints (tenant_id, network_id, container_id, mac, ip, node_id)
         SELECT $1, $3, c.id, ('02:20:00:00:' || lpad(to_hex(j >> 8), 2, '0') || ':' || lpad(to_hex(j & 255), 2, '0'))::macaddr,
                ('10.65.' || ((j + 256) >> 8) || '.' || ((j + 256) & 255))::inet, $2
           FROM c JOIN LATERAL (SELECT substr(c.name, 2)::int - 1000 * $4 + 200 * $4 AS j) k ON true`,
        [t, peerNode.id, net, k],
      );
    }
    await waitFor('queue overflowed', () => a.session.overflows > 0, 10_000);
    release();
    gate = undefined;
    const want = 1 + 2000;
    await waitFor('converged by a snapshot', () => Object.keys(a.view.endpoints).length === want && a.session.connected, 10_000);
    const snapshots = a.applied.filter((x) => x.how === 'snapshot');
    expect(snapshots.length).toBeGreaterThanOrEqual(2);
    expect(a.errors).toEqual([]);
    await a.stop();
  });

  it('counts failed stream upgrades into the auth limiter; a token that worked here before still connects', async () => {
    const n = await seed.node('lim', '198.18.7.30');
    const limiter = createAuthLimiter({ limit: 3 });
    const ctl = await controller({}, { authLimit: limiter });
    const status = (token: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(ctl.url, { headers: { authorization: `Bearer ${token}` }, ca: TEST_TLS.ca });
        ws.on('unexpected-response', (_q, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.close();
        });
        ws.on('error', () => {});
      });
    expect(await status(n.token)).toBe(101);
    // the limit-th failure is already answered 429 (as on REST), and so is any later guess, unqueried
    for (let i = 0; i < 2; i++) expect(await status(`wrong-${i}`)).toBe(401);
    expect(await status('wrong-2')).toBe(429);
    expect(await status('wrong-again')).toBe(429);
    expect(limiter.retryAfterMs('127.0.0.1')).toBeGreaterThan(0);
    expect(await status(n.token)).toBe(101);
  });
});
