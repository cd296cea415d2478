/**
 * Simulated agents for bench/propagation.ts, run as a child process (several per run): bare
 * `ws` clients that say hello, ack every revision they receive, send a heartbeat ping every
 * HEARTBEAT_MS, and on a closed stream reconnect to the next URL of their list after 125–250 ms
 * (the agent's first backoff step, node-agent/session/backoff.ts), saying hello with the
 * revision they hold, as the agent does.
 * Nine clients in ten read ops1 deltas (protocol/compact-ops.ts), as every freight-agent does; the tenth
 * reads plain ops, so one run measures both (the plain share was one in two before: half the fleet
 * on an encoding no agent asks for made a burst's load unlike any real one).
 *
 * Parent → child: start {agents: [{node, token, ip, urls}]}, expect {id, revision}, bytes, where, stop.
 * Child → parent: up, ready (every client has its first snapshot), reached {id, t}, bytes, where, error.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { HEARTBEAT_MS } from '../../protocol/stream.js';

const now = () => performance.timeOrigin + performance.now();
const CAPS = { vxlan: true, geneve: false, esp: false, aead: false, nft: true, nspawn: true, details: {} };

export interface SimAgent {
  node: string;
  token: string;
  ip: string;
  /** the replicas' stream URLs, the agent's own first */
  urls: string[];
}

interface Client {
  agent: SimAgent;
  enc: 'plain' | 'compact';
  ws?: WebSocket;
  /** index into agent.urls of the current connection */
  at: number;
  /** the socket's bytesRead when bytes were last reported */
  wire0: number;
  rev: number;
  hist: Array<[number, number]>;
  ready: boolean;
  /** connections opened after the first */
  reconnects: number;
  snapshots: number;
}

const clients: Client[] = [];
const bytes = { plain: 0, compact: 0 };
const wire = { plain: 0, compact: 0 };
const counts = { plain: 0, compact: 0 };
const expects: Array<{ id: number; revision: number }> = [];
let stopping = false;
let failedConnects = 0;
let lastError = '';
let total = 0;
const send = (m: unknown) => process.send!(m);

/** Reports every expectation that all clients have reached, with the time the last one got there. */
function check(): void {
  for (let i = expects.length - 1; i >= 0; i--) {
    const e = expects[i];
    let tMax = 0;
    let done = true;
    for (const c of clients) {
      const hit = c.hist.find(([r]) => r >= e.revision);
      if (!hit) {
        done = false;
        break;
      }
      tMax = Math.max(tMax, hit[1]);
    }
    if (done) {
      expects.splice(i, 1);
      for (const c of clients) c.hist = c.hist.filter(([r]) => r >= e.revision);
      send({ type: 'reached', id: e.id, t: tMax });
    }
  }
}

function connect(c: Client): void {
  const ws = new WebSocket(c.agent.urls[c.at], { headers: { authorization: `Bearer ${c.agent.token}` } });
  c.ws = ws;
  c.wire0 = 0;
  ws.on('open', () =>
    ws.send(
      JSON.stringify({
        type: 'hello',
        node: c.agent.node,
        underlayIp: c.agent.ip,
        revision: c.rev,
        capabilities: CAPS,
        underlayMtu: 1500,
        ...(c.enc === 'compact' ? { encodings: ['ops1'] } : {}),
      }),
    ),
  );
  ws.on('message', (data: Buffer) => onMessage(c, ws, data));
  // refused or timed-out connects (a replica busy with thousands of hellos) are retried like any close
  ws.on('error', (err) => {
    failedConnects++;
    lastError = String(err);
  });
  ws.on('close', () => {
    if (stopping || c.ws !== ws) return;
    c.at = (c.at + 1) % c.agent.urls.length;
    c.reconnects++;
    setTimeout(() => connect(c), 125 + Math.random() * 125);
  });
}

/** A snapshot's head, without parsing its view: the simulated agents' CPU is not the controller's. */
const SNAPSHOT_HEAD = /^\{"type":"snapshot","revision":(\d+),/;

function onMessage(c: Client, ws: WebSocket, data: Buffer): void {
  const t = now();
  const head = data.length > 4096 ? SNAPSHOT_HEAD.exec(data.subarray(0, 64).toString()) : null;
  const raw = head
    ? { type: 'snapshot', revision: Number(head[1]) }
    : (JSON.parse(data.toString()) as { type?: string; revision?: number; d?: [number, number] });
  // an ops1 delta: {d: [from, step], c} (protocol/compact-ops.ts)
  const msg = raw.d ? { type: 'delta', revision: raw.d[0] + raw.d[1] } : (raw as { type: string; revision: number });
  if (msg.type === 'delta') bytes[c.enc] += data.length;
  if (msg.type === 'snapshot') c.snapshots++;
  if (msg.type === 'snapshot' || msg.type === 'delta' || (msg.type === 'ping' && msg.revision > c.rev)) {
    c.rev = msg.revision;
    c.hist.push([msg.revision, t]);
    ws.send(JSON.stringify({ type: 'ack', revision: c.rev }));
  }
  if (msg.type === 'snapshot' && !c.ready) {
    c.ready = true;
    if (clients.length === total && clients.every((x) => x.ready)) send({ type: 'ready' });
  }
  if (expects.length) check();
}

function reportBytes(): void {
  wire.plain = wire.compact = 0;
  let deflate = 0;
  for (const c of clients) {
    const read = (c.ws as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0;
    wire[c.enc] += read - c.wire0;
    c.wire0 = read;
    if (c.ws?.extensions.includes('permessage-deflate')) deflate++;
  }
  send({ type: 'bytes', bytes: { ...bytes }, wire: { ...wire }, counts, deflate });
  bytes.plain = bytes.compact = 0;
}

/** Where the clients are connected now (by URL), and how often they reconnected and got snapshots. */
function reportWhere(): void {
  const byUrl: Record<string, number> = {};
  for (const c of clients) if (c.ws?.readyState === WebSocket.OPEN) byUrl[c.agent.urls[c.at]] = (byUrl[c.agent.urls[c.at]] ?? 0) + 1;
  const reconnects = clients.reduce((a, c) => a + c.reconnects, 0);
  const snapshots = clients.reduce((a, c) => a + c.snapshots, 0);
  send({ type: 'where', byUrl, reconnects, snapshots, failedConnects, lastError });
}

process.on('message', (m: { type: string; agents?: SimAgent[]; id?: number; revision?: number }) => {
  if (m.type === 'start') {
    total = m.agents!.length;
    for (const agent of m.agents!) {
      const enc = clients.length % 10 === 1 ? 'plain' : 'compact';
      counts[enc]++;
      const c: Client = { agent, enc, at: 0, wire0: 0, rev: 0, hist: [], ready: false, reconnects: 0, snapshots: 0 };
      clients.push(c);
      connect(c);
    }
  } else if (m.type === 'expect') {
    expects.push({ id: m.id!, revision: m.revision! });
    check();
  } else if (m.type === 'bytes') reportBytes();
  else if (m.type === 'where') reportWhere();
  else if (m.type === 'stop') {
    stopping = true;
    for (const c of clients) c.ws?.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
// heartbeats, as the agent sends them (the controller drops a stream silent for 3 of them); agents
// started at different times ping at different moments: a tenth of the clients every tenth of the interval
let beat = 0;
setInterval(() => {
  const ping = JSON.stringify({ type: 'ping', t: Date.now(), every: HEARTBEAT_MS });
  const slice = beat++ % 10;
  clients.forEach((c, i) => i % 10 === slice && c.ws?.readyState === WebSocket.OPEN && c.ws.send(ping));
}, HEARTBEAT_MS / 10).unref();
if (process.env.BENCH_DEBUG)
  setInterval(() => {
    const open = clients.filter((c) => c.ws?.readyState === WebSocket.OPEN).length;
    console.error(
      `sim ${process.pid}: ${clients.filter((c) => c.ready).length}/${clients.length} have snapshots, ${open} open, ${failedConnects} failed connects (${lastError})`,
    );
  }, 5000).unref();
send({ type: 'up' });
