/**
 * Container creates through the REST API on PostgreSQL: a real `freight-controller serve`
 * process, HTTP over loopback, CONCURRENCY clients. Baseline, same run, same database:
 * raw INSERTs of the same rows (container + endpoint, one transaction each, addresses
 * precomputed) through pg with the same concurrency. The controller runs from dist/ (the
 * built bin users run), built first when missing or stale.
 *
 *   npx tsx bench/api.ts [N]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { freshDatabase } from '../test/support/pg.js';
import { intToIp4, ip4ToInt } from '../protocol/addr.js';
import { macFor } from '../controller/ipam.js';
import { newestSource } from './lib/sources.js';
import { postJson } from './lib/post.js';

const N = Number(process.argv[2] ?? 2000);
const CONCURRENCY = 32;
const TARGET = 500;
/** creates/s through the API ≥ this × raw one-transaction INSERTs of the same rows, same run */
const RATIO_TARGET = 1.0;
const ADMIN = 'bench-admin-token-of-at-least-32-chars';

/** The controller as users run it: the built bin (built now if missing or older than its sources). */
function controllerArgv(): string[] {
  const bin = 'dist/controller/main.js';
  const stale = () => !existsSync(bin) || statSync(bin).mtimeMs < Math.max(newestSource('controller'), newestSource('protocol'));
  if (stale()) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'ignore' }); // emits even if other parts have type errors
  if (stale()) {
    console.log('controller: could not build dist/, running the sources through tsx (slower)');
    return ['--import', 'tsx', 'controller/main.ts'];
  }
  console.log(`controller: ${bin}`);
  return [bin];
}

function startController(url: string): Promise<{ proc: ChildProcess; base: string }> {
  // plaintext on loopback (--insecure): the API's cost measured as before, not the TLS library's
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'freight-bench-api-'));
  const proc = spawn(
    process.execPath,
    [...controllerArgv(), 'serve', '--listen', '127.0.0.1:0', '--insecure', '--state-dir', stateDir, '--database-url', url],
    {
      env: { ...process.env, FREIGHT_ADMIN_TOKEN: ADMIN },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /"address":"(http:\/\/[^"]+)"/.exec(line);
      if (m) resolve({ proc, base: m[1] });
    });
    proc.on('exit', (code) => reject(new Error(`controller exited with ${code}`)));
  });
}

/** Runs `n` jobs with `conc` workers; returns the rate and per-job latencies (ms). */
async function drive(n: number, conc: number, job: (i: number) => Promise<void>) {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await job(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { rate: n / secs, p50: q(0.5), p99: q(0.99) };
}

async function main() {
  const fresh = await freshDatabase('freight_bench_api');
  let ctl: ChildProcess | undefined;
  let agentRef: http.Agent | undefined;
  const pool = new pg.Pool({ connectionString: fresh.url, max: 10 });
  pool.on('error', () => {}); // the drop at the end ends its sessions
  try {
    const started = await startController(fresh.url);
    ctl = started.proc;
    // node:http with keep-alive: a lighter client than fetch, so the client steals less CPU
    // from the controller and PostgreSQL on a small machine
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    agentRef = agent;
    const post = (path: string, body: unknown) => postJson(agent, started.base, ADMIN, path, body);
    await post('/v1/tenants', { name: 'bench' });
    await post('/v1/tenants/bench/networks', { name: 'api', cidr: '10.10.0.0/16' });
    await post('/v1/tenants/bench/networks', { name: 'raw', cidr: '10.20.0.0/16' });
    await drive(100, CONCURRENCY, (i) => post('/v1/tenants/bench/containers', { name: `warm-${i}`, image: 'busybox', networks: ['api'] }));

    const api = await drive(N, CONCURRENCY, (i) =>
      post('/v1/tenants/bench/containers', { name: `c-${i}`, image: 'busybox', networks: ['api'] }),
    );

    const { rows } = await pool.query<{ tid: string; nid: string; vni: number }>(
      "SELECT t.id AS tid, n.id AS nid, n.vni FROM networks n JOIN tenants t ON t.id = n.tenant_id WHERE n.name = 'raw'",
    );
    const { tid, nid, vni } = rows[0];
    const first = ip4ToInt('10.20.0.1');
    const raw = await drive(N, CONCURRENCY, async (i) => {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const ins = await c.query<{ id: string }>(
          "INSERT INTO containers (tenant_id, name, image) VALUES ($1, $2, 'busybox') RETURNING id",
          [tid, `r-${i}`],
        );
        const ip = intToIp4(first + i);
        await c.query('INSERT INTO endpoints (tenant_id, network_id, container_id, ip, mac) VALUES ($1, $2, $3, $4, $5)', [
          tid,
          nid,
          ins.rows[0].id,
          ip,
          macFor(vni, ip),
        ]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    });

    const count = await pool.query<{ n: string }>("SELECT count(*) AS n FROM containers WHERE name LIKE 'c-%'");
    if (Number(count.rows[0].n) !== N) throw new Error(`expected ${N} containers, found ${count.rows[0].n}`);
    console.log(
      `API  (HTTP, ${CONCURRENCY} clients): ${api.rate.toFixed(0)} creates/s  p50 ${api.p50.toFixed(1)} ms  p99 ${api.p99.toFixed(1)} ms`,
    );
    console.log(
      `raw  (pg INSERTs, ${CONCURRENCY} clients): ${raw.rate.toFixed(0)} creates/s  p50 ${raw.p50.toFixed(1)} ms  p99 ${raw.p99.toFixed(1)} ms`,
    );
    console.log(
      JSON.stringify({
        bench: 'api',
        metric: 'container_creates_per_s',
        value: Math.round(api.rate),
        baseline: Math.round(raw.rate),
        ratio: Number((api.rate / raw.rate).toFixed(2)),
        target: TARGET,
        ratio_target: RATIO_TARGET,
        p50_ms: Number(api.p50.toFixed(2)),
        p99_ms: Number(api.p99.toFixed(2)),
        pass: api.rate >= TARGET && api.rate / raw.rate >= RATIO_TARGET,
      }),
    );
  } finally {
    if (ctl && ctl.exitCode === null) {
      const exited = new Promise((r) => ctl!.once('exit', r));
      ctl.kill('SIGTERM');
      await exited;
    }
    agentRef?.destroy();
    await pool.end();
    await fresh.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
