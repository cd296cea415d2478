/**
 * Propagation benchmark: endpoint commit → ack from every agent of the network.
 * PostgreSQL (fresh database); 1–3 controller replicas, each its own `serve` process (REST API,
 * agent stream, scheduler: bench/lib/replica.ts); N light agents (bare ws clients that ack on
 * receipt, reconnect and resume like the agent: bench/lib/sim-agents.ts) in 4 child processes,
 * spread over the replicas, each with the replicas' URL list (its own first).
 * Baseline: the raw PostgreSQL NOTIFY round trip (commit → LISTENer notified) on the same server.
 * Also: bytes per endpoint per agent (deltas, and socket bytes with framing and pings), each
 * replica's memory per agent connection (heap + external after a GC, before vs after its agents
 * connect) and CPU per change, the time until every agent has its first snapshot (cold start),
 * a 1,000-container burst through the REST API (writes, then convergence after the last
 * commit) and, with 2+ replicas, a restart of replica 0 (killed, then started again):
 * every agent at the newest revision, how many snapshots and change-log reads that took.
 *   npx tsx bench/propagation.ts [--quick] [--scale] [--only=RxN]
 * `--scale` adds 3,000 and 5,000 agents over 1 and 3 replicas and the restart with 2,500 agents
 * per replica (2x5000).
 * BENCH_PROFILE=DIR: a V8 CPU profile of each replica's whole run; BENCH_PROFILE_PHASES=DIR: one
 * over the latency samples and one over the burst. BENCH_DEBUG=1: progress and every latency.
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate, openDb, type Db, type Queryable } from '../controller/store/db.js';
import { freshDatabase } from '../test/support/pg.js';
import { Agents } from './lib/agents.js';
import { Replicas } from './lib/replicas.js';
import type { SimAgent } from './lib/sim-agents.js';
import { CpuSplit, postgresPids } from './lib/proc-cpu.js';

const now = () => performance.timeOrigin + performance.now();
const ADMIN = 'bench-admin-token-of-at-least-32-chars';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

interface Cluster {
  db: Db;
  url: string;
  tenant: string;
  net: string;
  nodes: string[];
  sink: string;
  drop(): Promise<void>;
}

async function seedCluster(n: number): Promise<Cluster & { agents: Array<Omit<SimAgent, 'urls'>> }> {
  const fresh = await freshDatabase('freight_bench');
  const db = await openDb({ databaseUrl: fresh.url, poolSize: 10 });
  await migrate(db);
  const tenant = (await db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('bench') RETURNING id`)).rows[0].id;
  const net = (
    await db.query<{ id: string }>(
      `INSERT INTO networks (tenant_id, name, type, vni, cidr) VALUES ($1, 'n', 'vxlan', 100, '10.0.0.0/14') RETURNING id`,
      [tenant],
    )
  ).rows[0].id;
  const agents = Array.from({ length: n }, (_, i) => ({
    node: `b${i}`,
    token: randomBytes(12).toString('hex'),
    ip: `198.18.${(i + 1) >> 8}.${(i + 1) & 255}`,
  }));
  const nodes = (
    await db.query<{ id: string }>(`INSERT INTO nodes (name, underlay_ip) SELECT * FROM unnest($1::text[], $2::inet[]) RETURNING id`, [
      agents.map((a) => a.node),
      agents.map((a) => a.ip),
    ])
  ).rows.map((r) => r.id);
  await db.query(`INSERT INTO tokens (hash, kind, node_name) SELECT h, 'node', n FROM unnest($1::text[], $2::text[]) AS v(h, n)`, [
    agents.map((a) => createHash('sha256').update(a.token).digest('hex')),
    agents.map((a) => a.node),
  ]);
  // one endpoint per node: every agent hosts the network (one transaction: one fsync, not n)
  await db.tx(async (q) => {
    for (let i = 0; i < n; i++) await createEndpoint(q, tenant, net, nodes[i], i);
  });
  // the measured endpoints go to a node without an agent (also hosting the network already), so every
  // agent receives exactly the endpoint; its container goes to that node (a hosting agent would get it too)
  const sink = (await db.query<{ id: string }>(`INSERT INTO nodes (name, underlay_ip) VALUES ('sink', '198.19.255.254') RETURNING id`))
    .rows[0].id;
  await createEndpoint(db, tenant, net, sink, n);
  return {
    db,
    url: fresh.url,
    tenant,
    net,
    nodes,
    sink,
    agents,
    drop: async () => {
      await db.close();
      await fresh.drop();
    },
  };
}

/** Creates a container with one endpoint; returns the revision of the commit. */
async function createEndpoint(db: Db | Queryable, tenant: string, net: string, node: string, k: number): Promise<number> {
  const inTx = async (q: Queryable) => {
    const c = (
      await q.query<{ id: string }>(
        `INSERT INTO containers (tenant_id, name, image, node_id) VALUES ($1, $2, 'busybox', $3) RETURNING id`,
        [tenant, `c${k}`, node],
      )
    ).rows[0].id;
    const h = k + 10;
    await q.query(`INSERT INTO endpoints (tenant_id, network_id, container_id, mac, ip, node_id) VALUES ($1, $2, $3, $4, $5, $6)`, [
      tenant,
      net,
      c,
      `02:${[h >> 24, h >> 16, h >> 8, h].map((x) => (x & 255).toString(16).padStart(2, '0')).join(':')}:00`,
      `10.${2 + ((h >> 16) & 1)}.${(h >> 8) & 255}.${h & 255}`, // 10.2.0.0/15: the API allocates from the bottom of the network
      node,
    ]);
    return Number((await q.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log')).rows[0].r);
  };
  return 'tx' in db ? db.tx(inTx) : inTx(db);
}

/** Baseline: commit of a NOTIFY → the LISTENing client has it. */
async function notifyBaseline(samples: number): Promise<{ p50: number; p99: number }> {
  const url = process.env.FREIGHT_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const listener = new pg.Client({ connectionString: url });
  const writer = new pg.Client({ connectionString: url });
  await listener.connect();
  await writer.connect();
  await listener.query('LISTEN freight_bench_baseline');
  const lat: number[] = [];
  for (let i = 0; i < samples; i++) {
    const got = new Promise<number>((r) => listener.once('notification', () => r(now())));
    const t0 = now();
    await writer.query(`SELECT pg_notify('freight_bench_baseline', $1)`, [String(i)]);
    lat.push((await got) - t0);
  }
  await listener.end();
  await writer.end();
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

interface Storm {
  /** kill of replica 0 → every agent at the revision committed right after it */
  ms: number;
  agentsMoved: number;
  snapshots: number;
  resumeReads: number;
  byUrl: Record<string, number>;
}

interface Result {
  replicas: number;
  n: number;
  p50: number;
  p99: number;
  /** ops1 deltas (what agents read); `plainBytesPerEpAgent`: plain ops to the other half, same run */
  bytesPerEpAgent: number;
  plainBytesPerEpAgent: number;
  /** socket bytes per endpoint per agent, ops1 clients (frames, pings and acks' replies included) */
  wirePerEpAgent: number;
  /** heap + external per agent connection, bytes: all replicas, and each */
  memPerAgent: number;
  memPerAgentByReplica: number[];
  /** CPU ms per measured change, each replica */
  cpuPerChange: number[];
  /** until every agent had its first snapshot */
  coldMs: number;
  burstLagMs?: number;
  burstWriteMs?: number;
  burstFailed?: number;
  /** change-log batches fanned out and delta messages sent during the burst (summed over replicas) */
  burstBatches?: number;
  burstDeltas?: number;
  /** CPU ms per group of processes from the first create to the last reply, and that wall time */
  burstCpu?: Record<string, number> & { wall: number };
  storm?: Storm;
}

/** `replicas 1.9  agents 0.4 … of 2 × 2.5 s`: each group's CPU seconds against what the cores had. */
function cpuLine(c: Record<string, number> & { wall: number }): string {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const groups = Object.entries(c).filter(([k]) => k !== 'wall');
  const used = groups.reduce((a, [, v]) => a + v, 0);
  return `${groups.map(([k, v]) => `${k} ${s(v)}`).join('  ')}; ${s(used)} of ${os.cpus().length} × ${s(c.wall)}`;
}

const sum = (xs: Array<number | undefined>) => xs.reduce<number>((a, b) => a + (b ?? 0), 0);
const rotate = <T>(xs: T[], k: number): T[] => [...xs.slice(k), ...xs.slice(0, k)];

async function run(replicas: number, n: number, samples: number, burst: number, storm: boolean): Promise<Result> {
  const cl = await seedCluster(n);
  const dbg = (m: string) => process.env.BENCH_DEBUG && console.error(`[${replicas}x${n}] ${m}`);
  let ctl: Replicas | undefined;
  let agents: Agents | undefined;
  try {
    ctl = await Replicas.start(cl.url, replicas, ADMIN);
    const urls = ctl.urls;
    const mem0 = await ctl.memory();
    const t0 = now();
    agents = await Agents.start(
      cl.agents.map((a, i) => ({ ...a, urls: rotate(urls, i % replicas) })),
      Math.min(4, n),
    );
    const coldMs = now() - t0;
    const mem1 = await ctl.memory();
    const perReplica = Math.ceil(n / replicas);
    const memPerAgentByReplica = mem1.map((m, i) => (m! - mem0[i]!) / perReplica);
    dbg(`agents have snapshots after ${coldMs.toFixed(0)} ms`);
    let k = n + 1;
    const lat: number[] = [];
    await agents.bytes();
    const cpu0 = await ctl.cpu();
    // BENCH_PROFILE_PHASES=DIR: a CPU profile of each replica over the samples, and one over the burst
    const profDir = process.env.BENCH_PROFILE_PHASES;
    if (profDir) await ctl.profile(true, profDir);
    for (let i = 0; i < samples; i++) {
      const rev = await createEndpoint(cl.db, cl.tenant, cl.net, cl.sink, k++);
      const tc = now();
      lat.push((await agents.reached(rev)) - tc);
    }
    if (profDir) await ctl.profile(false, profDir);
    dbg(
      `latencies, ms: ${[...lat]
        .sort((a, b) => a - b)
        .map((x) => x.toFixed(0))
        .join(' ')}`,
    );
    const cpu1 = await ctl.cpu();
    const b = await agents.bytes();
    const res: Result = {
      replicas,
      n,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      bytesPerEpAgent: b.bytes.compact / (samples * b.counts.compact),
      plainBytesPerEpAgent: b.counts.plain ? b.bytes.plain / (samples * b.counts.plain) : NaN,
      wirePerEpAgent: b.wire.compact / (samples * b.counts.compact),
      memPerAgent: (sum(mem1) - sum(mem0)) / n,
      memPerAgentByReplica,
      cpuPerChange: cpu1.map((c, i) => (c! - cpu0[i]!) / samples),
      coldMs,
    };
    if (burst > 0) Object.assign(res, await runBurst(cl, ctl, agents, burst));
    if (storm && replicas > 1) res.storm = await runStorm(cl, ctl, agents, k++);
    return res;
  } finally {
    agents?.stop();
    await ctl?.close();
    await cl.drop();
  }
}

/** The writer runs in its own process, like API clients: the controllers' event loops are not theirs. */
async function runBurst(cl: Cluster, ctl: Replicas, agents: Agents, burst: number): Promise<Partial<Result>> {
  const w = fork(fileURLToPath(new URL('./lib/api-writer.ts', import.meta.url)), [], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  type Done = { t0: number; lastCommit: number; failed: number; firstError: string };
  const up = new Promise<void>((r) => w.once('message', () => r()));
  const done = up.then(() => new Promise<Done>((r) => w.once('message', r)));
  // where the burst's CPU went: every process shares the machine's 2 cores
  const split = new CpuSplit({
    replicas: () => ctl.pids,
    agents: () => agents.pids,
    clients: () => (w.pid ? [w.pid] : []),
    postgres: postgresPids,
  });
  await up;
  const fanouts = () => Promise.all(['freight_push_batches_total', 'freight_push_deltas_total'].map((m) => ctl.metric(m)));
  const before = await fanouts();
  const profDir = process.env.BENCH_PROFILE_PHASES;
  if (profDir) await ctl.profile(true, profDir);
  split.start();
  const wall0 = now();
  w.send({ bases: ctl.bases, adminToken: ctl.adminToken, count: burst, concurrency: 32, prefix: 'burst-' });
  const { t0, lastCommit, failed, firstError } = await done;
  const burstCpu = split.stop();
  const wall = now() - wall0;
  if (failed) console.error(`burst: ${failed} creates failed, first: ${firstError}`);
  const last = Number((await cl.db.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log')).rows[0].r);
  const tEnd = await agents.reached(last);
  if (profDir) await ctl.profile(false, profDir);
  const [batches, deltas] = (await fanouts()).map((v, i) => v - before[i]);
  return {
    burstLagMs: tEnd - lastCommit,
    burstWriteMs: lastCommit - t0,
    burstFailed: failed,
    burstBatches: batches,
    burstDeltas: deltas,
    burstCpu: { ...burstCpu, wall },
  };
}

/**
 * Replica 0 is killed (its agents lose their stream at once), an endpoint is committed, and the
 * replica is started again on its port: the figure is kill → every agent at that revision.
 */
async function runStorm(cl: Cluster, ctl: Replicas, agents: Agents, k: number): Promise<Storm> {
  const before = await agents.where();
  const moved = before.byUrl[ctl.urls[0]] ?? 0;
  const t0 = now();
  await ctl.kill(0);
  // the others' count, read before the first agent's backoff (125 ms) ends: replica 0's restarts at 0
  const reads0 = await ctl.metric('freight_push_resume_reads_total');
  const rev = await createEndpoint(cl.db, cl.tenant, cl.net, cl.sink, k);
  const restarted = ctl.startOne(0);
  const tEnd = await agents.reached(rev);
  await restarted;
  const after = await agents.where();
  return {
    ms: tEnd - t0,
    agentsMoved: moved,
    snapshots: after.snapshots - before.snapshots,
    // what the others read more, plus all the restarted replica 0 read
    resumeReads: (await ctl.metric('freight_push_resume_reads_total')) - reads0,
    byUrl: after.byUrl,
  };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const scale = process.argv.includes('--scale');
  const samples = quick ? 10 : 30;
  const started = now();
  const base = await notifyBaseline(50);
  console.log(`baseline: PostgreSQL NOTIFY commit → listener  p50 ${base.p50.toFixed(2)} ms  p99 ${base.p99.toFixed(2)} ms`);
  const results: Result[] = [];
  const burstN = quick ? 200 : 1000;
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const shape = only && /^(\d+)x(\d+)$/.exec(only);
  // [replicas, agents, burst, restart]
  const configs: Array<readonly [number, number, number, boolean]> = shape
    ? [[Number(shape[1]), Number(shape[2]), burstN, Number(shape[1]) > 1]]
    : [
        [1, 1, 0, false],
        [1, 100, 0, false],
        [1, 500, burstN, false],
        [2, 500, burstN, true],
        ...(scale
          ? ([
              [1, 3000, 0, false],
              [3, 3000, 0, false],
              [1, 5000, 0, false],
              [3, 5000, 0, false],
              [2, 5000, 0, true],
            ] as const)
          : []),
      ];
  for (const [replicas, n, burst, storm] of configs) {
    const r = await run(replicas, n, samples, burst, storm);
    results.push(r);
    const kb = (x: number) => (x / 1024).toFixed(1);
    console.log(
      `replicas ${replicas}  agents ${String(n).padStart(4)}  commit→all acked p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms` +
        `  bytes/endpoint/agent ${r.bytesPerEpAgent.toFixed(0)} (plain ops ${r.plainBytesPerEpAgent.toFixed(0)}; on the wire ${r.wirePerEpAgent.toFixed(0)})` +
        `\n    memory/agent connection ${kb(r.memPerAgent)} KB (per replica ${r.memPerAgentByReplica.map(kb).join(', ')})` +
        `  CPU/change per replica ${r.cpuPerChange.map((c) => c.toFixed(1)).join(', ')} ms  cold start (all snapshots) ${(r.coldMs / 1000).toFixed(1)} s` +
        (r.burstLagMs !== undefined
          ? `\n    burst of ${burst} container creates through the API (32 clients): written in ${r.burstWriteMs!.toFixed(0)} ms` +
            `, all agents converged ${r.burstLagMs.toFixed(0)} ms after the last commit${r.burstFailed ? `, ${r.burstFailed} FAILED` : ''}` +
            ` (${r.burstBatches} change-log batches fanned out, ${r.burstDeltas} delta messages)` +
            `\n    burst CPU while writing, s: ${cpuLine(r.burstCpu!)}`
          : '') +
        (r.storm
          ? `\n    restart of replica 0 (${r.storm.agentsMoved} agents on it): all agents at the newest revision ${(r.storm.ms / 1000).toFixed(2)} s after the kill` +
            `; snapshots ${r.storm.snapshots}, change-log reads for resumes ${r.storm.resumeReads}; now ${Object.values(r.storm.byUrl).join(' / ')} per replica`
          : ''),
    );
  }
  const one = results.find((r) => r.n === 1);
  const at = (n: number) => results.filter((r) => r.n === n);
  const worst = (n: number) => Math.max(...at(n).map((r) => r.p99));
  const scaleRatio = one && at(500).length ? worst(500) / one.p99 : NaN;
  const checks: Array<[string, boolean]> = [
    ['p99(500) ≤ 250 ms', !at(500).length || worst(500) <= 250],
    ['p99(500)/p99(1) ≤ 5', Number.isNaN(scaleRatio) || scaleRatio <= 5],
    ['p99(3000) ≤ 400 ms', !at(3000).length || worst(3000) <= 400],
    ['p99(5000) ≤ 1000 ms', !at(5000).length || worst(5000) <= 1000],
    ['bytes/endpoint/agent ≤ 200', results.every((r) => r.bytesPerEpAgent <= 200)],
    ['memory/agent ≤ 20 KB', results.every((r) => r.n < 100 || r.memPerAgent <= 20 * 1024)],
    ['burst writes ≤ 2 s', results.every((r) => (r.burstWriteMs ?? 0) <= 2000 && !r.burstFailed)],
    ['burst converged ≤ 2 s after the last commit', results.every((r) => (r.burstLagMs ?? 0) <= 2000)],
    ['restart: all resynced ≤ 10 s', results.every((r) => !r.storm || r.storm.ms <= 10_000)],
  ];
  for (const [what, ok] of checks) console.log(`${ok ? 'ok  ' : 'MISS'} ${what}`);
  console.log(`p99(500)/p99(1) = ${scaleRatio.toFixed(2)}; total ${((now() - started) / 1000).toFixed(1)} s`);
  const biggest = Math.max(...results.map((r) => r.n));
  const storms = results.filter((r) => r.storm);
  console.log(
    JSON.stringify({
      bench: 'propagation',
      metric: `p99_ms_commit_to_ack_${biggest}_agents`,
      value: Number(worst(biggest).toFixed(1)),
      baseline: Number(base.p99.toFixed(2)),
      ratio: Number((worst(biggest) / base.p99).toFixed(2)),
      p99_500_over_p99_1: Number(scaleRatio.toFixed(2)),
      bytes_per_endpoint_agent: Number(Math.max(...results.map((r) => r.bytesPerEpAgent)).toFixed(0)),
      wire_bytes_per_endpoint_agent: Number(Math.max(...results.map((r) => r.wirePerEpAgent)).toFixed(0)),
      controller_kb_per_agent: Number((Math.max(...results.filter((r) => r.n >= 100).map((r) => r.memPerAgent), 0) / 1024).toFixed(1)),
      burst_write_ms: Number(Math.max(...results.map((r) => r.burstWriteMs ?? 0)).toFixed(0)),
      burst_lag_ms: Number(Math.max(...results.map((r) => r.burstLagMs ?? 0)).toFixed(0)),
      restart_resync_ms: storms.length ? Number(Math.max(...storms.map((r) => r.storm!.ms)).toFixed(0)) : null,
      pass: checks.every(([, ok]) => ok),
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
