/**
 * Security group benchmark (issue 18), two parts, each against a baseline in the same run:
 *
 * 1. Membership change → every affected agent has it: PostgreSQL (fresh database), one controller
 *    replica in this process, 500 simulated agents (bare ws clients that ack on receipt, as in
 *    bench/propagation.ts) in child processes; 1,000 containers on one network across the 500
 *    nodes, 100 groups of 10 members with 100 rules each (10,000 rules). A sample moves one
 *    container to another group (the SQL `container set --sg` runs) and waits until all 500
 *    agents acked the revision; 100 samples after 5 uncounted warm-up changes (so the p99 is not
 *    just the one slowest of 30, and not V8's first compile). Baseline: PostgreSQL NOTIFY commit →
 *    listener on the same server.
 *    Also reported: bytes each agent received per change (the address, not the group).
 * 2. Full ruleset apply on one node: the planner's `inet freight` table for a node hosting members
 *    of all 100 groups (10,000 rules, 1,000 remote members), planned by the compiled dist/ modules
 *    (the agent's code), rendered as nft text in block syntax and applied with `nft -f` in a fresh
 *    namespace (the agent's path, kernel/nft.ts), vs `nft -f` of the same ruleset in nft's own
 *    syntax (as `nft list` prints it: what one writes by hand) in another fresh namespace; the two
 *    loads alternate which goes first. Warm: median of 20 plans in this process (a rule change on a
 *    running agent). Cold: the median first plan of 5 fresh node processes, given the view as
 *    JSON (an agent's first plan after a restart), plus the median nft load of our text.
 *
 *   npx tsx bench/policy.ts [--quick]      (root: part 2 makes network namespaces)
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import pg from 'pg';
import pino from 'pino';
import WebSocket from 'ws';
import { registerPush, type PushHub } from '../controller/push/index.js';
import { migrate, openDb, type Db } from '../controller/store/db.js';
import type { desiredState as desiredStateFn } from '../node-agent/dataplane/desired.js';
import type { planTable as planTableFn } from '../node-agent/dataplane/nft-table.js';
import type { nftText as nftTextFn } from '../node-agent/kernel/nft-text.js';
import type { NodeView, ViewSecurityGroup } from '../protocol/view.js';
import { freshDatabase } from '../test/support/pg.js';
import { viewContainer } from '../test/support/view.js';

const now = () => performance.timeOrigin + performance.now();
const CAPS = { vxlan: true, geneve: false, esp: false, aead: false, nft: true, nspawn: true, details: {} };
const GROUPS = 100;
const RULES_PER_GROUP = 100;
const CONTAINERS = 1000;
const WARMUP = 5;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

// ---------------------------------------------------------------- child: simulated agents
function child(): void {
  const clients: Array<{ ws: WebSocket; rev: number; ready: boolean }> = [];
  let bytes = 0;
  let msgs = 0;
  const expects: Array<{ id: number; revision: number; seen: Map<number, number> }> = [];
  const send = (m: unknown) => process.send!(m);
  let stopping = false;
  let total = 0;
  const onMessage = (c: { ws: WebSocket; rev: number; ready: boolean }, idx: number, data: Buffer) => {
    const t = now();
    const msg = JSON.parse(data.toString()) as { type: string; revision: number };
    if (msg.type === 'delta') {
      bytes += data.length;
      msgs++;
    }
    if (msg.type === 'snapshot' || msg.type === 'delta' || (msg.type === 'ping' && msg.revision > c.rev)) {
      c.rev = msg.revision;
      c.ws.send(JSON.stringify({ type: 'ack', revision: c.rev }));
      for (let i = expects.length - 1; i >= 0; i--) {
        const e = expects[i];
        if (c.rev >= e.revision && !e.seen.has(idx)) e.seen.set(idx, t);
        if (e.seen.size === clients.length) {
          expects.splice(i, 1);
          send({ type: 'reached', id: e.id, t: Math.max(...e.seen.values()) });
        }
      }
    }
    if (msg.type === 'snapshot' && !c.ready) {
      c.ready = true;
      if (clients.length === total && clients.every((x) => x.ready)) send({ type: 'ready' });
    }
  };
  process.on(
    'message',
    (m: { type: string; url?: string; agents?: Array<{ node: string; token: string; ip: string }>; id?: number; revision?: number }) => {
      if (m.type === 'start') {
        total = m.agents!.length;
        for (const a of m.agents!) {
          const c = { ws: undefined as unknown as WebSocket, rev: 0, ready: false };
          const idx = clients.push(c) - 1;
          // a real agent reconnects and resumes when the controller drops it (a slow reader of a big snapshot)
          const connect = () => {
            const ws = new WebSocket(m.url!, { headers: { authorization: `Bearer ${a.token}` }, maxPayload: 256 * 1024 * 1024 });
            c.ws = ws;
            ws.on('open', () =>
              ws.send(
                JSON.stringify({ type: 'hello', node: a.node, underlayIp: a.ip, revision: c.rev, capabilities: CAPS, underlayMtu: 1500 }),
              ),
            );
            ws.on('message', (data: Buffer) => onMessage(c, idx, data));
            ws.on('close', () => !stopping && setTimeout(connect, 200));
            ws.on('error', () => {});
          };
          connect();
        }
      } else if (m.type === 'expect') {
        const e = { id: m.id!, revision: m.revision!, seen: new Map<number, number>() };
        clients.forEach((c, i) => c.rev >= e.revision && e.seen.set(i, now()));
        if (e.seen.size === clients.length) send({ type: 'reached', id: e.id, t: Math.max(...e.seen.values()) });
        else expects.push(e);
      } else if (m.type === 'bytes') {
        send({ type: 'bytes', bytes, msgs });
        bytes = msgs = 0;
      } else if (m.type === 'stop') {
        stopping = true;
        for (const c of clients) c.ws.terminate();
        process.exit(0);
      }
    },
  );
  process.on('disconnect', () => process.exit(0));
  if (process.env.BENCH_DEBUG)
    setInterval(
      () => console.error(`child ${process.pid}: ${clients.filter((c) => c.ready).length}/${clients.length} have snapshots`),
      5000,
    ).unref();
  send({ type: 'up' });
}

class Agents {
  private readonly procs: ChildProcess[] = [];
  private seq = 0;
  private readonly waiting = new Map<number, { left: number; t: number; resolve(t: number): void }>();
  private byteReplies: Array<(b: { bytes: number; msgs: number }) => void> = [];

  static async start(url: string, agents: Array<{ node: string; token: string; ip: string }>, nprocs: number): Promise<Agents> {
    const self = new Agents();
    const parts: Array<typeof agents> = Array.from({ length: nprocs }, () => []);
    agents.forEach((a, i) => parts[i % nprocs].push(a));
    await Promise.all(parts.map((part) => self.spawn(url, part)));
    return self;
  }

  private spawn(url: string, agents: Array<{ node: string; token: string; ip: string }>): Promise<void> {
    const p = fork(fileURLToPath(import.meta.url), ['--child'], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.procs.push(p);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('agents did not get their snapshots in 900 s')), 900_000);
      p.on('message', (m: { type: string; id?: number; t?: number; bytes?: number; msgs?: number; message?: string }) => {
        if (m.type === 'up') p.send({ type: 'start', url, agents });
        else if (m.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (m.type === 'reached') {
          const w = this.waiting.get(m.id!)!;
          w.t = Math.max(w.t, m.t!);
          if (--w.left === 0) {
            this.waiting.delete(m.id!);
            w.resolve(w.t);
          }
        } else if (m.type === 'bytes') this.byteReplies.shift()!({ bytes: m.bytes!, msgs: m.msgs! });
        else if (m.type === 'error') console.error('agent error:', m.message);
      });
    });
  }

  reached(revision: number): Promise<number> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, { left: this.procs.length, t: 0, resolve });
      for (const p of this.procs) p.send({ type: 'expect', id, revision });
    });
  }

  async bytes(): Promise<{ bytes: number; msgs: number }> {
    const rs = await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<{ bytes: number; msgs: number }>((r) => {
            this.byteReplies.push(r);
            p.send({ type: 'bytes' });
          }),
      ),
    );
    return rs.reduce((a, b) => ({ bytes: a.bytes + b.bytes, msgs: a.msgs + b.msgs }), { bytes: 0, msgs: 0 });
  }

  stop(): void {
    for (const p of this.procs) p.send({ type: 'stop' });
  }
}

interface Seeded {
  db: Db;
  url: string;
  agents: Array<{ node: string; token: string; ip: string }>;
  groups: string[];
  containers: string[];
  tenant: string;
  drop(): Promise<void>;
}

/** 500 nodes, one network, 100 groups × 100 rules (seeded before the containers: no member to log yet), 1,000 containers. */
async function seed(n: number): Promise<Seeded> {
  const fresh = await freshDatabase('freight_bench_policy');
  const db = await openDb({ databaseUrl: fresh.url, poolSize: 10 });
  await migrate(db);
  const tenant = (await db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('bench') RETURNING id`)).rows[0].id;
  const net = (
    await db.query<{ id: string }>(
      `INSERT INTO networks (tenant_id, name, type, vni, cidr) VALUES ($1, 'n', 'vxlan', 100, '10.0.0.0/16') RETURNING id`,
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
  const groups = (
    await db.query<{ id: string }>(
      `INSERT INTO security_groups (tenant_id, name) SELECT $1, 'g' || i FROM generate_series(0, $2 - 1) i RETURNING id`,
      [tenant, GROUPS],
    )
  ).rows.map((r) => r.id);
  // per group: 50 TCP port rules from remote groups, 30 from CIDRs, 20 egress
  await db.query(
    `INSERT INTO security_group_rules (group_id, tenant_id, direction, proto, port_min, port_max, remote_cidr, remote_group_id)
     SELECT g.id, $1, CASE WHEN j < 80 THEN 'ingress' ELSE 'egress' END, 'tcp', 1000 + j, 1000 + j + (j % 3),
            CASE WHEN j >= 50 THEN ('10.' || (j % 200) || '.0.0/16')::cidr END,
            CASE WHEN j < 50 THEN ($2::uuid[])[1 + ((g.k + j) % $3)] END
       FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM security_groups WHERE tenant_id = $1 AND name <> 'default') g,
            generate_series(0, $4 - 1) j`,
    [tenant, groups, GROUPS, RULES_PER_GROUP],
  );
  const containers = (
    await db.query<{ id: string }>(
      `INSERT INTO containers (tenant_id, name, image, node_id) SELECT $1, 'c' || i, 'busybox', ($2::uuid[])[1 + (i % $3)]
         FROM generate_series(0, $4 - 1) i RETURNING id`,
      [tenant, nodes, n, CONTAINERS],
    )
  ).rows.map((r) => r.id);
  await db.query(
    `INSERT INTO endpoints (tenant_id, network_id, container_id, mac, ip, node_id)
     SELECT $1, $2, c.id, ('02:00:00:00:' || lpad(to_hex(k >> 8), 2, '0') || ':' || lpad(to_hex(k & 255), 2, '0'))::macaddr,
            ('10.0.' || (k >> 8) || '.' || (k & 255))::inet, c.node_id
       FROM (SELECT id, node_id, 10 + row_number() OVER (ORDER BY name) AS k FROM containers WHERE tenant_id = $1 AND kind = 'container') c`,
    [tenant, net],
  );
  await db.query(
    `INSERT INTO container_security_groups (container_id, group_id, tenant_id)
     SELECT c, ($2::uuid[])[1 + (ord % $3)], $1 FROM unnest($4::uuid[]) WITH ORDINALITY AS x(c, ord)`,
    [tenant, groups, GROUPS, containers],
  );
  return { db, url: fresh.url, agents, groups, containers, tenant, drop: async () => (await db.close(), await fresh.drop()) };
}

/** `container set --sg`: one container to another group, as patchContainer writes it; returns the commit's revision. */
async function moveContainer(s: Seeded, container: string, group: string): Promise<number> {
  return s.db.tx(async (q) => {
    await q.query('DELETE FROM container_security_groups WHERE container_id = $1', [container]);
    await q.query('INSERT INTO container_security_groups (container_id, group_id, tenant_id) VALUES ($1, $2, $3)', [
      container,
      group,
      s.tenant,
    ]);
    return Number((await q.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log')).rows[0].r);
  });
}

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

async function membership(
  n: number,
  samples: number,
): Promise<{ p50: number; p99: number; max: number; bytesPerAgent: number; loadMs: number }> {
  const s = await seed(n);
  const db = await openDb({ databaseUrl: s.url, poolSize: 5 });
  const app = Fastify();
  let hub: PushHub | undefined;
  let agents: Agents | undefined;
  try {
    const t0 = now();
    hub = await registerPush(app, { db, log: pino({ level: 'silent' }) });
    const loadMs = now() - t0;
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/agent/stream`;
    agents = await Agents.start(url, s.agents, 4);
    // warm-up changes, not counted: the first ones run the paths V8 has not compiled yet
    for (let i = 0; i < WARMUP; i++) await agents.reached(await moveContainer(s, s.containers[CONTAINERS - 1 - i], s.groups[i]));
    await agents.bytes();
    const lat: number[] = [];
    for (let i = 0; i < samples; i++) {
      const rev = await moveContainer(s, s.containers[i], s.groups[(i * 37 + 11) % GROUPS]);
      const t = now();
      lat.push((await agents.reached(rev)) - t);
    }
    const b = await agents.bytes();
    const slowest = lat
      .map((ms, i) => [i, ms])
      .sort((x, y) => y[1] - x[1])
      .slice(0, 5);
    console.log(`slowest samples (index: ms): ${slowest.map(([i, ms]) => `${i}: ${ms.toFixed(0)}`).join(', ')}`);
    return { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat), bytesPerAgent: b.bytes / (samples * n), loadMs };
  } finally {
    agents?.stop();
    await hub?.close();
    await app.close();
    await db.close();
    await s.drop();
  }
}

// ---------------------------------------------------------------- part 2: full ruleset apply on one node
function fullView(): NodeView {
  const gid = (g: number) => `00000000-0000-4000-8000-${String(g).padStart(12, '0')}`;
  const groups: ViewSecurityGroup[] = Array.from({ length: GROUPS }, (_, g) => ({
    id: gid(g),
    name: `g${g}`,
    rules: Array.from({ length: RULES_PER_GROUP }, (_, j) => ({
      id: `00000000-0000-4000-9${String(g).padStart(3, '0')}-${String(j).padStart(12, '0')}`,
      direction: j < 80 ? ('ingress' as const) : ('egress' as const),
      proto: 'tcp' as const,
      portMin: 1000 + j,
      portMax: 1000 + j + (j % 3),
      ...(j < 50 ? { remoteGroup: gid((g + j) % GROUPS) } : { remoteCidr: `10.${j % 200}.0.0/16` }),
    })),
  }));
  const v: NodeView = {
    node: 'n0',
    underlayIp: '198.18.0.1',
    revision: 1,
    keys: {},
    networks: {
      n: {
        id: 'n',
        tenant: 't',
        name: 'n',
        type: 'vxlan',
        vni: 100,
        cidr: '10.0.0.0/16',
        gateway: null,
        mtu: 1450,
        domain: 'd',
        flood: [],
      },
    },
    containers: {},
    endpoints: {},
  };
  for (let k = 0; k < CONTAINERS; k++) {
    const g = k % GROUPS;
    const local = k < GROUPS; // one local member of every group: all 10,000 rules on this node
    const id = `${String(k).padStart(8, '0')}-0000-4000-8000-000000000000`;
    const ip = `10.0.${(k + 10) >> 8}.${(k + 10) & 255}`;
    v.endpoints[`e${k}`] = {
      id: `e${k}`,
      network: 'n',
      kind: 'container',
      owner: id,
      name: `c${k}`,
      mac: '02:00:00:00:00:01',
      ip,
      node: local ? 'n0' : 'n1',
      vtep: local ? '198.18.0.1' : '198.18.0.2',
      ifindex: 0,
      groups: [groups[g].id],
    };
    if (local) v.containers[id] = viewContainer(id, { name: `c${k}`, securityGroups: [groups[g]] });
  }
  return v;
}

const FACTS = { node: 'n0', underlayIp: '198.18.0.1', underlayMtu: 1500, capabilities: { ...CAPS, vlan: false, physicalNetworks: {} } };
const ns = (name: string) => spawnSync('ip', ['netns', 'add', name]).status === 0;
const nsDel = (name: string) => spawnSync('ip', ['netns', 'del', name]);
function timed(args: string[]): number {
  const t0 = now();
  const r = spawnSync('ip', args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return now() - t0;
}

interface FullApply {
  /** medians of the runs: the planner's memos are warm from the second run on (a rule change on a running agent) */
  ours: number;
  hand: number;
  plan: number;
  /** the first plan of fresh processes, median (an agent's first plan after a restart: nothing memoised, V8 cold) */
  planCold: number;
  /** planCold + the median nft -f of our text, against the median hand-written nft -f */
  oursCold: number;
  rules: number;
  elements: number;
  from: string;
}

interface Planner {
  desiredState: typeof desiredStateFn;
  planTable: typeof planTableFn;
  nftText: typeof nftTextFn;
  from: string;
}

/**
 * The agent runs the compiled JS of dist/ (`npm run bench` builds it first): part 2 plans with
 * the same modules, so a first plan is V8's cold start on the agent's code (through tsx it also
 * paid tsx's loader, 1.5–2× as long). The sources are the fallback when there is no dist/.
 */
async function planner(): Promise<Planner> {
  const load = async (base: string, from: string): Promise<Planner> => {
    const [d, t, x] = await Promise.all([
      import(`${base}/dataplane/desired.js`) as Promise<{ desiredState: typeof desiredStateFn }>,
      import(`${base}/dataplane/nft-table.js`) as Promise<{ planTable: typeof planTableFn }>,
      import(`${base}/kernel/nft-text.js`) as Promise<{ nftText: typeof nftTextFn }>,
    ]);
    return { desiredState: d.desiredState, planTable: t.planTable, nftText: x.nftText, from };
  };
  try {
    return await load(new URL('../dist/node-agent', import.meta.url).href, 'dist/ (compiled, as the agent runs)');
  } catch {
    return load('../node-agent', 'the sources through tsx (no dist/: npm run build)');
  }
}

/** One plan as the agent makes it: desired state, the replacement batch, its text (else line text). */
function planOnce(p: Planner, view: NodeView): { ms: number; text: string; rules: number; elements: number } {
  const t0 = now();
  const table = p.desiredState(view, FACTS).nft.get('inet')!;
  const op = p.planTable('inet', table, undefined)!;
  const text = op.text?.() ?? p.nftText(op.commands);
  if (text === undefined) throw new Error('the full ruleset did not render as nft text');
  return { ms: now() - t0, text, rules: table.rules.length, elements: table.sets.reduce((x, s) => x + s.elems.length, 0) };
}

/** Child (tsx, when there is no dist/): the first plan of a fresh process. */
async function coldChild(): Promise<void> {
  const p = await planner();
  const view = fullView();
  process.send!({ ms: planOnce(p, view).ms });
  process.exit(0);
}

/**
 * The cold child on dist/: plain node, as the agent runs, the view arriving as JSON on stdin (as
 * a snapshot does), planned once the process has settled (an agent's first plan follows its TLS
 * handshake and snapshot, not its first millisecond). Prints the plan's milliseconds.
 */
const COLD_CHILD = `
const [d, t, x] = await Promise.all(['dataplane/desired.js', 'dataplane/nft-table.js', 'kernel/nft-text.js']
  .map((m) => import(process.argv[1] + '/' + m)));
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { view, facts } = JSON.parse(input);
await new Promise((r) => setTimeout(r, 200));
const t0 = performance.now();
const table = d.desiredState(view, facts).nft.get('inet');
const op = t.planTable('inet', table, undefined);
const text = op.text?.() ?? x.nftText(op.commands);
const ms = performance.now() - t0;
if (!text) process.exit(3);
process.stdout.write(JSON.stringify({ ms }));
`;

function coldPlans(n: number, from: string): Promise<number[]> {
  const dist = fileURLToPath(new URL('../dist/node-agent', import.meta.url));
  const input = JSON.stringify({ view: fullView(), facts: FACTS });
  const onDist = () =>
    new Promise<number>((resolve, reject) => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', COLD_CHILD, dist], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (b: Buffer) => (out += b.toString()));
      c.once('exit', (code) =>
        code === 0 ? resolve((JSON.parse(out) as { ms: number }).ms) : reject(new Error(`cold plan child exited ${code}`)),
      );
      c.stdin.end(input);
    });
  const onSources = () =>
    new Promise<number>((resolve, reject) => {
      const c = fork(fileURLToPath(import.meta.url), ['--cold-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      c.once('message', (m: { ms: number }) => resolve(m.ms));
      c.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`cold plan child exited ${code}`))));
    });
  return (async () => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await (from.startsWith('dist') ? onDist() : onSources()));
    return out;
  })();
}

/**
 * Warm: `runs` plans in this process, each applied in a fresh namespace, against the same ruleset
 * in nft's own syntax (as `nft list` prints it) in another; the two nft loads alternate which goes
 * first (the machine's noise is as large as the difference). Cold: the first plans of 5 fresh processes.
 */
async function fullApply(runs: number): Promise<FullApply> {
  const p = await planner();
  const dir = mkdtempSync(join(tmpdir(), 'frb-policy-'));
  const view = fullView();
  const ours: number[] = [];
  const hand: number[] = [];
  const plan: number[] = [];
  let rules = 0;
  let elements = 0;
  const oursFile = join(dir, 'ours.nft');
  const handFile = join(dir, 'hand.nft');
  try {
    for (let i = 0; i < runs; i++) {
      const a = `frb-pol-a-${process.pid}-${i}`;
      const b = `frb-pol-b-${process.pid}-${i}`;
      if (!ns(a) || !ns(b)) throw new Error('ip netns add failed (root needed)');
      try {
        const planned = planOnce(p, view);
        const t0 = now();
        writeFileSync(oursFile, planned.text);
        const ms = planned.ms + (now() - t0);
        ({ rules, elements } = planned);
        const applyOurs = () => ours.push(ms + timed(['netns', 'exec', a, 'nft', '-f', oursFile]));
        const applyHand = () => hand.push(timed(['netns', 'exec', b, 'nft', '-f', handFile]));
        plan.push(ms);
        if (i === 0) {
          applyOurs();
          const listed = spawnSync('ip', ['netns', 'exec', a, 'nft', 'list', 'table', 'inet', 'freight'], {
            encoding: 'utf8',
            maxBuffer: 1 << 28,
          }).stdout;
          writeFileSync(handFile, listed);
          applyHand();
        } else if (i % 2) {
          applyHand();
          applyOurs();
        } else {
          applyOurs();
          applyHand();
        }
      } finally {
        nsDel(a);
        nsDel(b);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // the first run's plan was this process's first: warm figures are the others
  const warm = ours.slice(1);
  const oursNft = warm.map((x, i) => x - plan[i + 1]);
  const planCold = pct(await coldPlans(5, p.from), 50);
  return {
    from: p.from,
    ours: pct(warm, 50),
    hand: pct(hand, 50),
    plan: pct(plan.slice(1), 50),
    planCold,
    oursCold: planCold + pct(oursNft, 50),
    rules,
    elements,
  };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const n = quick ? 100 : 500;
  const samples = quick ? 10 : 100;
  if (process.argv.includes('--apply-only')) {
    const f = await fullApply(21);
    console.log(`planner: ${f.from}`);
    console.log(
      `full apply: ours ${f.ours.toFixed(1)} ms (planning and rendering ${f.plan.toFixed(1)} ms), nft -f ${f.hand.toFixed(1)} ms, ratio ${(f.ours / f.hand).toFixed(2)}; ` +
        `first plan of a fresh process ${f.planCold.toFixed(1)} ms: ${f.oursCold.toFixed(1)} ms, ratio ${(f.oursCold / f.hand).toFixed(2)}`,
    );
    process.exit(0);
  }
  const base = await notifyBaseline(50);
  console.log(`baseline: PostgreSQL NOTIFY commit → listener  p50 ${base.p50.toFixed(2)} ms  p99 ${base.p99.toFixed(2)} ms`);
  const m = await membership(n, samples);
  console.log(
    `membership change → all ${n} agents acked (1,000 containers, ${GROUPS} groups, ${GROUPS * RULES_PER_GROUP} rules): ` +
      `p50 ${m.p50.toFixed(1)} ms  p99 ${m.p99.toFixed(1)} ms  max ${m.max.toFixed(1)} ms  bytes/agent/change ${m.bytesPerAgent.toFixed(0)}  (model load ${m.loadMs.toFixed(0)} ms)`,
  );
  const f = await fullApply(21);
  const ratio = f.ours / f.hand;
  console.log(`planner: ${f.from}`);
  console.log(
    `full ruleset on one node (${f.rules} nft rules, ${f.elements} set elements): planner + nft -f ${f.ours.toFixed(1)} ms, ` +
      `hand-written nft -f ${f.hand.toFixed(1)} ms, ratio ${ratio.toFixed(2)} (target ≤ 1.2); of ours, planning and rendering ${f.plan.toFixed(1)} ms`,
  );
  const coldRatio = f.oursCold / f.hand;
  console.log(
    `  cold: the first plan of a fresh process (median of 5; an agent's first plan after a restart): ours ${f.oursCold.toFixed(1)} ms (planning ${f.planCold.toFixed(1)} ms), ` +
      `vs hand-written ${f.hand.toFixed(1)} ms, ratio ${coldRatio.toFixed(2)}`,
  );
  const pass = m.p99 <= 300 && ratio <= 1.2 && coldRatio <= 1.2 && !quick;
  console.log(
    JSON.stringify({
      bench: 'policy',
      metric: `p99_ms_membership_change_to_ack_${n}_agents`,
      value: Number(m.p99.toFixed(1)),
      baseline: Number(base.p99.toFixed(2)),
      ratio: Number((m.p99 / base.p99).toFixed(2)),
      target: 300,
      p50: Number(m.p50.toFixed(1)),
      bytesPerAgentPerChange: Math.round(m.bytesPerAgent),
      fullApplyMs: Number(f.ours.toFixed(1)),
      fullApplyPlanMs: Number(f.plan.toFixed(1)),
      handWrittenNftMs: Number(f.hand.toFixed(1)),
      fullApplyRatio: Number(ratio.toFixed(2)),
      fullApplyColdRatio: Number(coldRatio.toFixed(2)),
      fullApplyTarget: 1.2,
      pass,
    }),
  );
  process.exit(0);
}

if (process.argv.includes('--child')) child();
else if (process.argv.includes('--cold-child')) void coldChild();
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
