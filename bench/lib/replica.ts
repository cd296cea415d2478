/**
 * One controller replica for bench/propagation.ts, in its own process (its own event loop, as
 * in production): `serve()` as `freight-controller serve --insecure` runs it (REST API, agent
 * stream, scheduler, key manager), on the port the parent gives (0: any).
 *
 * Parent → child: start {databaseUrl, stateDir, port, adminToken, deflate}, mem, cpu, metrics,
 * profile {on, dir} (a V8 CPU profile of a phase, written to dir when it stops).
 * Child → parent: listening {port}, mem {bytes}, cpu {userMs, systemMs}, metrics {text}, profile {}.
 * Memory is heap + external after a full GC (zlib's contexts count as external).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { serve } from '../../controller/serve.js';

const gc = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

interface Start {
  type: 'start';
  databaseUrl: string;
  stateDir: string;
  port: number;
  adminToken: string;
}

const send = (m: unknown) => process.send!(m);
let base = '';

process.on('message', (m: { type: string } & Partial<Start>) => {
  if (m.type === 'start') void start(m as Start);
  else if (m.type === 'mem') {
    gc();
    const u = process.memoryUsage();
    send({ type: 'mem', bytes: u.heapUsed + u.external });
  } else if (m.type === 'cpu') {
    const u = process.cpuUsage();
    send({ type: 'cpu', userMs: u.user / 1000, systemMs: u.system / 1000 });
  } else if (m.type === 'exit') process.exit(0);
  else if (m.type === 'profile') void profile(m as unknown as { on: boolean; dir: string });
  else if (m.type === 'metrics') {
    void fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })
      .then((r) => r.text())
      .then((text) => send({ type: 'metrics', text }));
  }
});
process.on('disconnect', () => process.exit(0));
let adminToken = '';
const inspector = new Session();

async function profile(m: { on: boolean; dir: string }): Promise<void> {
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) => inspector.post(method, (err, r) => (err ? reject(err) : resolve(r))));
  if (m.on) {
    inspector.connect();
    await post('Profiler.enable');
    await post('Profiler.start');
  } else {
    const { profile: p } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(join(m.dir, `phase-${process.pid}-${Date.now()}.cpuprofile`), JSON.stringify(p));
    inspector.disconnect();
  }
  send({ type: 'profile' });
}

async function start(m: Start): Promise<void> {
  adminToken = m.adminToken;
  const s = await serve(
    {
      listen: `127.0.0.1:${m.port}`,
      stateDir: m.stateDir,
      insecure: true,
      adminToken: m.adminToken,
      databaseUrl: m.databaseUrl,
      poolSize: 10,
      maxConnections: 20_000,
      print: () => {},
    },
    pino({ level: 'silent' }),
  );
  base = s.address;
  send({ type: 'listening', port: Number(new URL(s.address).port) });
}
send({ type: 'up' });
