/** Support for the runtime tests: view builders, a state dir with the busybox image, the runtime driver as a child process. */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ContainerStatus } from '../../protocol/stream.js';
import type { ViewContainer, ViewEndpoint, ViewNetwork } from '../../protocol/view.js';
import type { DesiredContainers } from '../../node-agent/runtime/planner.js';
import { reapCgroups, releaseUidLock } from '../support/cgroups.js';
import { sh } from '../support/netns.js';

export const PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function network(vni: number, cidr = '10.77.0.0/24', mtu = 1450): ViewNetwork {
  return {
    id: `net-${vni}`,
    tenant: 't1',
    name: `n${vni}`,
    type: 'vxlan',
    vni,
    cidr,
    gateway: null,
    mtu,
    domain: 'freight.internal',
    flood: [],
  };
}

export function container(name: string, command: string[], over: Partial<ViewContainer> = {}): ViewContainer {
  return {
    id: randomUUID(),
    tenant: 't1',
    name,
    kind: 'container',
    image: 'busybox',
    command,
    boot: false,
    restart: 'never',
    desired: 'running',
    generation: 1,
    ...over,
  };
}

export function endpoint(c: ViewContainer, net: ViewNetwork, ip: string, mac: string, node: string, ifindex = 0): ViewEndpoint {
  return {
    id: `ep-${c.id}-${ifindex}`,
    network: net.id,
    kind: 'container',
    owner: c.id,
    name: c.name,
    mac,
    ip,
    node,
    vtep: '198.18.0.1',
    ifindex,
  };
}

export function desired(containers: ViewContainer[], endpoints: ViewEndpoint[], networks: ViewNetwork[]): DesiredContainers {
  const endpointsByOwner: Record<string, ViewEndpoint[]> = {};
  for (const ep of endpoints) (endpointsByOwner[ep.owner] ??= []).push(ep);
  return { containers, endpointsByOwner, networks: Object.fromEntries(networks.map((n) => [n.id, n])) };
}

/** A fresh state dir with the busybox image built by the project's script and imported by the CLI. */
export function stateWithBusybox(base = '/tmp'): string {
  const state = mkdtempSync(join(base, 'freight-rt-'));
  const img = join(state, 'build-busybox');
  mkdirSync(img);
  sh('bash', [join(PROJECT, 'scripts/build-busybox-image.sh'), img], { timeoutMs: 600_000 });
  sh('npx', ['tsx', join(PROJECT, 'node-agent/runtime/image-cli.ts'), 'import', 'busybox', img, '--state-dir', state]);
  sh('rm', ['-rf', img]);
  return state;
}

type Reply = { seq: number; ok: boolean; result?: unknown; error?: string };

/** The runtime in a node namespace (nsenter --net only: see runtime-driver.ts), over JSON lines. */
export class Driver {
  readonly statuses = new Map<string, ContainerStatus>();
  /** every status event with its arrival time */
  readonly history: Array<{ t: number; status: ContainerStatus }> = [];
  private seq = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private readonly watchers: Array<() => void> = [];
  stderr = '';

  private constructor(readonly proc: ChildProcessWithoutNullStreams) {}

  static async start(node: string, state: string): Promise<Driver> {
    const proc = spawn(
      'nsenter',
      [`--net=/run/netns/${node}`, 'npx', 'tsx', join(PROJECT, 'test/netns/runtime-driver.ts'), state, PROJECT],
      {
        cwd: PROJECT,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const d = new Driver(proc);
    proc.stderr.on('data', (b: Buffer) => (d.stderr += b.toString()));
    proc.on('exit', (code) => {
      for (const [seq, w] of d.waiting) w({ seq, ok: false, error: `driver exited (${code}): ${d.stderr.slice(-1000)}` });
    });
    const ready = new Promise<void>((res, rej) => {
      proc.on('exit', (code) => rej(new Error(`driver exited ${code}: ${d.stderr}`)));
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const m = JSON.parse(line) as Reply & { event?: string; status?: ContainerStatus };
        if (m.event === 'ready') return res();
        if (m.event === 'status' && m.status) {
          d.statuses.set(m.status.id, m.status);
          d.history.push({ t: Date.now(), status: m.status });
          for (const w of [...d.watchers]) w();
          return;
        }
        d.waiting.get(m.seq)?.(m);
      });
    });
    await ready;
    return d;
  }

  async call<T = unknown>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`${cmd}: driver is not running`);
    const seq = ++this.seq;
    const reply = new Promise<Reply>((res) => this.waiting.set(seq, res));
    this.proc.stdin.write(`${JSON.stringify({ seq, cmd, ...args })}\n`);
    const r = await reply;
    this.waiting.delete(seq);
    if (!r.ok) throw new Error(`${cmd}: ${r.error}`);
    return r.result as T;
  }

  apply(d: DesiredContainers): Promise<unknown> {
    return this.call('apply', { desired: d });
  }

  /** Resolves when the container's reported status satisfies `pred`. */
  waitStatus(id: string, pred: (s: ContainerStatus) => boolean, timeoutMs = 15_000): Promise<ContainerStatus> {
    return new Promise((res, rej) => {
      const check = () => {
        const s = this.statuses.get(id);
        if (s && pred(s)) {
          clearTimeout(timer);
          this.watchers.splice(this.watchers.indexOf(check), 1);
          res(s);
        }
      };
      const timer = setTimeout(() => {
        this.watchers.splice(this.watchers.indexOf(check), 1);
        rej(new Error(`timeout waiting for ${id}: last ${JSON.stringify(this.statuses.get(id))}; stderr ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      this.watchers.push(check);
      check();
    });
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((res) => this.proc.on('exit', res));
    await this.call('close').catch(() => {});
    await exited;
  }

  /** An agent crash: the runtime dies, its containers must not. */
  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((res) => this.proc.on('exit', res));
    // nsenter → npx → node: kill that chain, not the container wrappers (their own sessions) below it
    const sid = sessionOf(this.proc.pid!);
    for (const pid of descendants(this.proc.pid!, sid)) spawnSync('kill', ['-9', String(pid)]);
    this.proc.kill('SIGKILL');
    await exited;
  }
}

function sessionOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  } catch {
    return -1;
  }
}

/** Descendants in session `sid` (a detached container wrapper and everything under it are skipped). */
function descendants(pid: number, sid: number): number[] {
  const kids = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.split(/\s+/)
    .filter(Boolean)
    .map(Number);
  return kids.filter((k) => sessionOf(k) === sid).flatMap((k) => [k, ...descendants(k, sid)]);
}

/** Stops every container process the state dir still records and removes their mounts and netns. */
export function cleanupState(state: string): void {
  if (!existsSync(state)) return;
  const out = spawnSync('sh', ['-c', `cat ${state}/containers/*/nspawn.pid 2>/dev/null`], { encoding: 'utf8' }).stdout;
  for (const pid of out.split(/\s+/).filter(Boolean)) {
    const kids = spawnSync('pgrep', ['-P', pid], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean);
    for (const k of [...kids, pid]) spawnSync('kill', ['-9', k]);
  }
  const mounts = spawnSync('sh', ['-c', `grep -o ' ${state}/containers/[^ ]*/rootfs ' /proc/self/mountinfo`], { encoding: 'utf8' }).stdout;
  for (const m of mounts
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean))
    spawnSync('umount', ['-l', m]);
  const ids = spawnSync('ls', [join(state, 'containers')], { encoding: 'utf8' })
    .stdout.split(/\s+/)
    .filter(Boolean);
  for (const id of ids) {
    reapCgroups(id);
    releaseUidLock(join(state, 'containers', id));
    for (const p of ['frc', 'frs']) spawnSync('ip', ['netns', 'del', `${p}-${id.replace(/-/g, '').slice(0, 8)}`], { stdio: 'ignore' });
  }
  spawnSync('rm', ['-rf', state]);
}
