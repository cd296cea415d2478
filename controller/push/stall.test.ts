import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../store/db.js';
import { CAPS, Seed, startController, TEST_TLS, testDb, waitFor, type Controller } from '../../test/netns/push-harness.js';

/**
 * A replica busy past the silence limit (thousands of resumes, a long fan-out) still has the
 * agents' pings, unread, in its sockets. The agent here is another process, so it keeps pinging
 * while this one is blocked; the replica must read those pings before it judges silence.
 */
const HB = 100; // silence limit: 3 missed heartbeats, 300 ms

/**
 * Agents in their own process, one per [token, node, ip]: hello, ack the snapshot, ping every HB;
 * each prints `snapshot NODE`, and `closed NODE` if its stream closes. Ten of them: the heartbeat
 * ticks go to a tenth of the connections each, and the one that falls due first must find none silent.
 */
const AGENTS = `
const WebSocket = require('ws');
const [url, list, caps, ca] = process.argv.slice(1);
for (const [token, node, ip] of JSON.parse(list)) {
  const ws = new WebSocket(url, { headers: { authorization: 'Bearer ' + token }, ca });
  ws.on('open', () => {
    ws.send(JSON.stringify({ type: 'hello', node, underlayIp: ip, revision: 0, capabilities: JSON.parse(caps), underlayMtu: 1500 }));
    setInterval(() => ws.send(JSON.stringify({ type: 'ping', t: Date.now(), every: ${HB} })), ${HB});
  });
  ws.on('message', (d) => {
    const m = JSON.parse(String(d));
    if (m.type === 'snapshot') { ws.send(JSON.stringify({ type: 'ack', revision: m.revision })); console.log('snapshot ' + node); }
  });
  ws.on('close', () => console.log('closed ' + node));
}
`;

let db: Db;
let drop: () => Promise<void> = async () => {};
let c: Controller;
let child: ChildProcess | undefined;

beforeAll(async () => {
  ({ db, drop } = await testDb());
  c = await startController(db, { heartbeatMs: HB, flushMs: 50 });
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await c?.close();
  await drop();
});

describe('silence while the replica itself was busy', () => {
  it('a replica that blocked its event loop for 1 s keeps the agents that pinged all along', async () => {
    const seed = new Seed(db);
    const agents: Array<[string, string, string]> = [];
    for (let i = 1; i <= 10; i++) agents.push([(await seed.node(`s${i}`, `198.18.9.${i}`)).token, `s${i}`, `198.18.9.${i}`]);
    let out = '';
    child = spawn(process.execPath, ['-e', AGENTS, c.url, JSON.stringify(agents), JSON.stringify(CAPS), TEST_TLS.ca], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('snapshots', () => (out.match(/snapshot/g) ?? []).length === 10);
    await waitFor('connected', () => c.hub.connected().length === 10);
    const until = Date.now() + 1000;
    while (Date.now() < until); // busy: no I/O read, the heartbeat timers fall due
    await new Promise((r) => setTimeout(r, 5 * HB));
    expect(out).not.toContain('closed');
    expect(c.hub.connected()).toHaveLength(10);
  });
});
