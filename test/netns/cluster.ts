/**
 * A whole Freight cluster in namespaces, built from the real programs: the
 * controller (dist/controller/main.js) in the underlay namespace at 198.18.0.254,
 * one agent (dist/node-agent/main.js) per node namespace of the Harness, the
 * busybox image imported on every node. The test process reaches the API through
 * a relay (no interface is added to the root namespace). Everything runs over TLS as in
 * production: the controller makes its CA in its state directory, agents get join strings
 * pinning it, the test process and freightctl verify against its ca.crt.
 *
 *   const c = await Cluster.start({ nodes: 3, databaseUrl });
 *   await c.api('POST', '/v1/tenants', { name: 'acme' });
 *   c.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { encodeJoin } from '../../protocol/join.js';
import { fingerprintOfPem } from '../../protocol/tls-trust.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness } from './harness.js';
import { openRelay, type Relay } from '../support/relay.js';
import { sh } from '../support/netns.js';
import { reapCgroups, releaseUidLock } from '../support/cgroups.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONTROLLER = path.join(ROOT, 'dist/controller/main.js');
const AGENT = path.join(ROOT, 'dist/node-agent/main.js');
const CTL = path.join(ROOT, 'dist/controller/cli/main.js');
export const CONTROLLER_IP = '198.18.0.254';
/** A busybox container that takes its address by DHCP, then idles. */
export const DHCP_CMD = ['sh', '-c', 'udhcpc -i eth0 -b -S -t 60 -T 1 -A 1 -s /usr/share/udhcpc/default.script; exec sleep 2147483647'];
const PORT = 7400;

export interface ClusterOptions {
  nodes: number;
  /** PostgreSQL database URL; without it the controller runs on PGlite in a temp dir. */
  databaseUrl?: string;
  heartbeatMs?: number;
  auditMs?: number;
  /** Write controller/agent logs here (default: the cluster's temp dir). */
  logDir?: string;
  /** How long the controller and the agents may take to come up (default 60 s / 30 s; TCG guests need more). */
  readyTimeoutMs?: number;
  /** Plaintext controller and agents (`--insecure` on both sides). */
  insecure?: boolean;
  /** Runs once the node namespaces exist, before any agent starts (e.g. a datacenter switch, test/netns/switch.ts). */
  beforeAgents?: (h: Harness) => void;
  /** Extra arguments of node i's agent (e.g. `--physical-network datacenter=eth1`). */
  agentArgs?: (i: number) => string[];
}

export interface ApiResult<T = any> {
  status: number;
  body: T;
}

/** Builds the busybox image once per machine (cached) and returns its directory. */
export function busyboxImage(): string {
  const dir = path.join(os.tmpdir(), 'freight-busybox-image');
  if (!existsSync(path.join(dir, 'bin/busybox'))) {
    // a cold build in the TCG guest of the kernel suite took over a minute
    sh('bash', [path.join(ROOT, 'scripts/build-busybox-image.sh'), dir], { timeoutMs: 600_000 });
  }
  return dir;
}

export class Cluster {
  readonly h: Harness;
  readonly dir: string;
  readonly adminToken = randomBytes(16).toString('hex');
  relay!: Relay;
  private controller?: ChildProcess;
  private readonly agents = new Map<number, ChildProcess>();
  private readonly nodeTokens = new Map<number, string>();

  private constructor(
    h: Harness,
    private readonly o: ClusterOptions,
  ) {
    this.h = h;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'freight-cluster-'));
  }

  static async start(o: ClusterOptions): Promise<Cluster> {
    const h = await Harness.create({ nodes: o.nodes });
    const c = new Cluster(h, o);
    try {
      sh('ip', ['-n', h.underlay, 'addr', 'add', `${CONTROLLER_IP}/24`, 'dev', 'ul']);
      await c.startController();
      o.beforeAgents?.(h);
      const image = busyboxImage();
      for (let i = 0; i < o.nodes; i++) {
        const tok = await c.api('POST', '/v1/tokens', { kind: 'node', node: h.node(i).name });
        if (tok.status !== 201 && tok.status !== 200) throw new Error(`node token: ${JSON.stringify(tok.body)}`);
        c.nodeTokens.set(i, tok.body.token);
        sh(process.execPath, [AGENT, 'image', 'import', 'busybox', image, '--state-dir', c.stateDir(i)]);
        await c.startAgent(i);
      }
      await c.waitFor(
        async () => {
          const r = await c.api('GET', '/v1/nodes');
          return r.status === 200 && (r.body.items ?? r.body).filter((n: any) => n.ready).length === o.nodes;
        },
        o.readyTimeoutMs ?? 30_000,
        'all nodes ready',
      );
    } catch (e) {
      c.stop();
      throw e;
    }
    return c;
  }

  get logDir(): string {
    return this.o.logDir ?? this.dir;
  }

  stateDir(i: number): string {
    return path.join(this.dir, `node${i}`);
  }

  /** The controller's state directory (TLS CA, master key, admin token file). */
  get controllerStateDir(): string {
    return path.join(this.dir, 'controller');
  }

  get caFile(): string {
    return path.join(this.controllerStateDir, 'tls', 'ca.crt');
  }

  get caPem(): string | undefined {
    return this.o.insecure ? undefined : readFileSync(this.caFile, 'utf8');
  }

  /** URL agents use, inside the namespaces. */
  get controllerUrl(): string {
    return `${this.o.insecure ? 'http' : 'https'}://${CONTROLLER_IP}:${PORT}`;
  }

  /** The join string of node i, as `freightctl token create --node` prints it. */
  joinOf(i: number, fingerprint = this.caPem && fingerprintOfPem(this.caPem)): string {
    return encodeJoin({ url: this.controllerUrl, token: this.nodeTokens.get(i)!, ...(fingerprint ? { ca: fingerprint } : {}) });
  }

  /** The relay's URL with the controller's scheme. */
  get apiUrl(): string {
    return this.o.insecure ? this.relay.url : this.relay.url.replace(/^http:/, 'https:');
  }

  private logFd(name: string): number {
    return openSync(path.join(this.logDir, `${name}.log`), 'a');
  }

  async startController(): Promise<void> {
    const db = this.o.databaseUrl ? ['--database-url', viaSocket(this.o.databaseUrl)] : ['--data-dir', path.join(this.dir, 'db')];
    const fd = this.logFd('controller');
    const tls = this.o.insecure ? ['--insecure'] : [];
    this.controller = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.h.underlay,
        process.execPath,
        CONTROLLER,
        'serve',
        '--listen',
        `${CONTROLLER_IP}:${PORT}`,
        '--state-dir',
        this.controllerStateDir,
        ...tls,
        ...db,
      ],
      {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, FREIGHT_ADMIN_TOKEN: this.adminToken },
      },
    );
    this.relay ??= await openRelay(this.h.underlay, CONTROLLER_IP, PORT);
    await this.waitFor(
      async () => (await this.api('GET', '/healthz').catch(() => ({ status: 0 }))).status === 200,
      this.o.readyTimeoutMs ?? 60_000,
      'controller healthy',
    );
  }

  async stopController(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await killAndWait(this.controller, signal);
    this.controller = undefined;
  }

  async startAgent(i: number): Promise<void> {
    const n = this.h.node(i);
    const fd = this.logFd(`agent-${n.name}`);
    // nsenter, not `ip netns exec`: the latter remounts /sys in a private mount namespace,
    // which hides the cgroup hierarchy from systemd-nspawn and the agent's mounts from the host
    const args = [
      `--net=/run/netns/${n.ns}`,
      '--',
      process.execPath,
      AGENT,
      '--join',
      this.joinOf(i),
      '--node',
      n.name,
      '--underlay-ip',
      n.underlayIp,
      '--state-dir',
      this.stateDir(i),
      '--project-dir',
      ROOT,
    ];
    if (this.o.insecure) args.push('--insecure');
    if (this.o.auditMs) args.push('--audit-ms', String(this.o.auditMs));
    if (this.o.heartbeatMs) args.push('--heartbeat-ms', String(this.o.heartbeatMs));
    args.push(...(this.o.agentArgs?.(i) ?? []));
    this.agents.set(i, spawn('nsenter', args, { stdio: ['ignore', fd, fd] }));
  }

  /** Kills the agent process (its containers and kernel state stay, as in a crash). */
  async killAgent(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await killAndWait(this.agents.get(i), signal);
    this.agents.delete(i);
  }

  async api<T = any>(method: string, url: string, body?: unknown, token = this.adminToken): Promise<ApiResult<T>> {
    const r = await request(
      this.apiUrl + url,
      this.caPem,
      method,
      { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body === undefined ? undefined : JSON.stringify(body),
    );
    const text = r.text;
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* text body (metrics) */
    }
    return { status: r.status, body: parsed };
  }

  /**
   * Runs freightctl against the cluster. Asynchronous on purpose: the relay it talks
   * through lives in this process, so a synchronous spawn would deadlock.
   */
  ctl(args: string[], token = this.adminToken): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const trust = this.o.insecure ? ['--insecure'] : ['--ca', this.caFile];
      const p = spawn(process.execPath, [CTL, '--url', this.apiUrl, ...trust, '--token', token, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d));
      p.stderr.on('data', (d: Buffer) => (stderr += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  }

  /** The network namespace the runtime made for a container. */
  netnsOf(containerId: string): string {
    return `frc-${containerId.replace(/-/g, '').slice(0, 8)}`;
  }

  exec(containerId: string, cmd: string, args: string[], timeoutMs = 30_000) {
    return this.h.exec(this.netnsOf(containerId), cmd, args, timeoutMs);
  }

  /** The IPv4 address on the container's eth0, or undefined while it has none. */
  addressOf(containerId: string): string | undefined {
    if (!existsSync(`/run/netns/${this.netnsOf(containerId)}`)) return undefined;
    const r = this.exec(containerId, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    return /inet (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
  }

  async waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (logs in ${this.logDir})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Removes every process, container, namespace and file the cluster made. Safe to call twice. */
  stop(): void {
    for (const p of this.agents.values()) p.kill('SIGKILL');
    this.agents.clear();
    this.controller?.kill('SIGKILL');
    void this.relay?.close();
    for (let i = 0; i < this.h.nodeCount; i++) {
      reapContainers(this.stateDir(i));
      reapRouters(this.stateDir(i));
    }
    this.h.cleanup();
    if (!this.o.logDir && !process.env.FREIGHT_KEEP_LOGS) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Kills what the runtime left of each container recorded under a state dir: processes, netns, mounts. */
export function reapContainers(stateDir: string): void {
  const dir = path.join(stateDir, 'containers');
  if (!existsSync(dir)) return;
  for (const id of readdirSync(dir)) {
    const ns = `frc-${id.replace(/-/g, '').slice(0, 8)}`;
    for (const pidFile of ['state.json']) {
      try {
        const st = JSON.parse(readFileSync(path.join(dir, id, pidFile), 'utf8'));
        for (const pid of [st.nspawnPid, st.wrapperPid]) if (pid) spawnSync('kill', ['-9', String(pid)]);
      } catch {
        /* no state */
      }
    }
    if (existsSync(`/run/netns/${ns}`)) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) spawnSync('kill', ['-9', pid]);
      spawnSync('ip', ['netns', 'del', ns]);
    }
    for (const m of ['rootfs', 'merged']) spawnSync('umount', ['-l', path.join(dir, id, m)], { stdio: 'ignore' });
    reapCgroups(id);
    releaseUidLock(path.join(dir, id));
    spawnSync('ip', ['netns', 'del', `frs-${id.replace(/-/g, '').slice(0, 8)}`], { stdio: 'ignore' });
    // nspawn removes its propagation directory (named after --machine) when it exits; killed, it cannot
    rmSync(`/run/systemd/nspawn/propagate/${ns}`, { recursive: true, force: true });
  }
}

/** Deletes the router namespaces an agent recorded as its own (node-agent/router/routers.ts, routers.json). */
export function reapRouters(stateDir: string): void {
  let names: unknown;
  try {
    names = JSON.parse(readFileSync(path.join(stateDir, 'routers.json'), 'utf8'));
  } catch {
    return;
  }
  for (const ns of Array.isArray(names) ? names : []) {
    if (typeof ns === 'string' && /^frr[0-9a-z]{6}-[0-9a-f]{5}$/.test(ns) && existsSync(`/run/netns/${ns}`))
      spawnSync('ip', ['netns', 'del', ns]);
  }
}

/**
 * The controller runs inside the underlay namespace, where 127.0.0.1 is not the machine's
 * PostgreSQL: reach it through its unix socket, which no network namespace hides.
 */
export function viaSocket(url: string): string {
  // a socket URL already (`postgresql://user@/db?host=/dir`: no host, which URL refuses)
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') return url;
  const dir =
    ['/var/run/postgresql', '/run/postgresql', '/tmp'].find((d) => existsSync(`${d}/.s.PGSQL.${u.port || 5432}`)) ?? '/var/run/postgresql';
  return `postgresql://${u.username || 'postgres'}@/${u.pathname.slice(1)}?host=${encodeURIComponent(dir)}&port=${u.port || 5432}`;
}

/**
 * One HTTP(S) request verified against `ca` (fetch cannot take a CA), on a connection of its own:
 * a kept-alive socket idle past the controller's keep-alive timeout, reused through the relay, is
 * reset under the next request (seen under qemu, where building the busybox image takes > 10 s).
 */
export function request(
  url: string,
  ca: string | undefined,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(
      u,
      { method, headers, agent: false, ...(u.protocol === 'https:' ? { ca, rejectUnauthorized: true } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', (e) => reject(new Error(`${method} ${url}: ${e.message}`, { cause: e })));
    req.end(body);
  });
}

function killAndWait(p: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    // `ip netns exec` execs the program, so the pid is the program itself
    p.kill(signal);
  });
}

export function writeJson(file: string, v: unknown): void {
  writeFileSync(file, JSON.stringify(v, null, 2));
}
