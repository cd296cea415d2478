/**
 * Multi-node test harness in network namespaces (never the root namespace):
 *   underlay ns `fru-<tag>` with bridge `ul` joining N node namespaces `frn<i>-<tag>`,
 *   each with `ul0` = 198.18.0.<i+1>/24; "container" namespaces `frc<k>-<tag>` with a veth
 *   (`eth0` inside, `frh-<tag><k>` on the node) into a node's tenant bridge.
 * The harness builds itself with `ip`; everything the agent owns is installed by the
 * dataplane, run as a child process inside the node namespace (DataplaneProc).
 *
 *   const h = await Harness.create({ nodes: 3 });
 *   const dp = await h.startDataplane(0); await dp.apply(view);
 *   const c = h.addContainerNs(0, { mac, ip: '10.0.0.2/24', bridge: 'frb-100' });
 *   h.cleanup();
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Namespaces, sh, uniqueTag } from '../support/netns.js';
import type { NodeView, ViewEndpoint, ViewNetwork } from '../../protocol/view.js';

const CLI = fileURLToPath(new URL('../../node-agent/dataplane/cli.ts', import.meta.url));

export interface NodeNs {
  index: number;
  name: string;
  ns: string;
  underlayIp: string;
}

export interface ContainerNs {
  ns: string;
  /** host end of the veth, in the node namespace */
  hostIf: string;
  node: number;
  mac: string;
  ip: string;
}

export class Harness {
  readonly tag: string;
  readonly underlay: string;
  private readonly namespaces = new Namespaces();
  private readonly nodes: NodeNs[] = [];
  private readonly containers: ContainerNs[] = [];
  private readonly procs: DataplaneProc[] = [];

  private constructor(tag: string) {
    this.tag = tag;
    this.underlay = `fru-${tag}`;
  }

  /** `underlayGro`: GRO on both ends of each node's underlay veth, as a real NIC has it (bench/overlay). */
  static async create(opts: { nodes: number; mtu?: number; underlayGro?: boolean }): Promise<Harness> {
    const h = new Harness(uniqueTag());
    try {
      h.namespaces.add(h.underlay);
      sh('ip', ['-n', h.underlay, 'link', 'add', 'ul', 'type', 'bridge']);
      sh('ip', ['-n', h.underlay, 'link', 'set', 'ul', 'up']);
      for (let i = 0; i < opts.nodes; i++) h.addNode(opts.mtu ?? 1500, opts.underlayGro ?? false);
    } catch (e) {
      h.cleanup();
      throw e;
    }
    return h;
  }

  private addNode(mtu: number, gro: boolean): void {
    const i = this.nodes.length;
    const ns = this.namespaces.add(`frn${i}-${this.tag}`);
    const n: NodeNs = { index: i, name: `node${i}`, ns, underlayIp: `198.18.0.${i + 1}` };
    sh('ip', [
      '-n',
      this.underlay,
      'link',
      'add',
      `n${i}`,
      'mtu',
      String(mtu),
      'type',
      'veth',
      'peer',
      'name',
      'ul0',
      'netns',
      ns,
      'mtu',
      String(mtu),
    ]);
    sh('ip', ['-n', this.underlay, 'link', 'set', `n${i}`, 'master', 'ul', 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${n.underlayIp}/24`, 'dev', 'ul0']);
    sh('ip', ['-n', ns, 'link', 'set', 'ul0', 'up']);
    if (gro) {
      sh('ip', ['netns', 'exec', this.underlay, 'ethtool', '-K', `n${i}`, 'gro', 'on']);
      sh('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'ul0', 'gro', 'on']);
    }
    this.nodes.push(n);
  }

  /** Another namespace of this harness (`<prefix>-<tag>`), removed by cleanup(). */
  addNamespace(prefix: string): string {
    return this.namespaces.add(`${prefix}-${this.tag}`);
  }

  node(i: number): NodeNs {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** A "container": a namespace whose eth0 is a veth into the node's tenant bridge. */
  addContainerNs(node: number, c: { mac: string; ip: string; bridge: string; mtu?: number }): ContainerNs {
    const k = this.containers.length;
    const ns = this.namespaces.add(`frc${k}-${this.tag}`);
    const n = this.node(node);
    const hostIf = `frh-${this.tag}${k}`;
    sh('ip', ['-n', n.ns, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    if (c.mtu) {
      sh('ip', ['-n', n.ns, 'link', 'set', hostIf, 'mtu', String(c.mtu)]);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', String(c.mtu)]);
    }
    sh('ip', ['-n', n.ns, 'link', 'set', hostIf, 'master', c.bridge, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', c.mac]);
    sh('ip', ['-n', ns, 'addr', 'add', c.ip, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    const out: ContainerNs = { ns, hostIf, node, mac: c.mac, ip: c.ip.split('/')[0] };
    this.containers.push(out);
    return out;
  }

  /** Runs the dataplane CLI inside the node's namespace. */
  async startDataplane(node: number, opts: { auditMs?: number } = {}): Promise<DataplaneProc> {
    const n = this.node(node);
    const p = new DataplaneProc(n, opts.auditMs ?? 10_000);
    this.procs.push(p);
    await p.ready;
    return p;
  }

  /** Runs a command in a namespace (ip netns exec), returning status and output. */
  exec(ns: string, cmd: string, args: string[], timeoutMs = 30_000): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  ping(from: ContainerNs, to: string, count = 2): boolean {
    return this.exec(from.ns, 'ping', ['-c', String(count), '-W', '1', '-i', '0.2', to]).status === 0;
  }

  cleanup(): void {
    for (const p of this.procs) void p.kill(); // SIGKILL is sent at once; the exit is not waited for
    this.procs.length = 0;
    this.namespaces.cleanup();
  }
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

/**
 * How to start the dataplane CLI: from source through tsx by default; from the compiled
 * dist/ with FREIGHT_DATAPLANE_DIST=1 (under qemu's TCG tsx needs ~50 s to start, node
 * ~5 s); or an explicit built file in FREIGHT_DATAPLANE_CLI.
 */
function dataplaneCli(): string[] {
  if (process.env.FREIGHT_DATAPLANE_CLI) return [process.env.FREIGHT_DATAPLANE_CLI];
  const dist = fileURLToPath(new URL('../../dist/node-agent/dataplane/cli.js', import.meta.url));
  return process.env.FREIGHT_DATAPLANE_DIST === '1' && existsSync(dist) ? [dist] : ['--import', 'tsx', CLI];
}

/** A dataplane CLI child process; commands are answered in order. */
export class DataplaneProc {
  readonly child: ChildProcessWithoutNullStreams;
  readonly ready: Promise<Record<string, unknown>>;
  readonly stderr: string[] = [];
  private readonly waiting: Pending[] = [];
  private exited = false;

  constructor(
    readonly node: NodeNs,
    auditMs: number,
    extraArgs: string[] = [],
  ) {
    this.child = spawn(
      'ip',
      [
        'netns',
        'exec',
        node.ns,
        process.execPath,
        ...dataplaneCli(),
        '--node',
        node.name,
        '--underlay-ip',
        node.underlayIp,
        '--audit-ms',
        String(auditMs),
        ...extraArgs,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let readyResolve!: (v: Record<string, unknown>) => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.waiting.push({ resolve: readyResolve, reject: readyReject });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      this.waiting.shift()?.resolve(msg);
    });
    createInterface({ input: this.child.stderr }).on('line', (line) => this.stderr.push(line));
    this.child.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiting.splice(0))
        w.reject(new Error(`dataplane on ${node.name} exited ${code}: ${this.stderr.slice(-5).join('\n')}`));
    });
  }

  send(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error('dataplane exited'));
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  /** Applies a view; throws with the driver's last log lines when the answer is not a result. */
  async apply(view: NodeView): Promise<ApplyOut> {
    const r = await this.send({ cmd: 'apply', view });
    if (r.type !== 'result') throw new Error(`apply on ${this.node.name}: ${JSON.stringify(r)}\n${this.stderr.slice(-5).join('\n')}`);
    return r as unknown as ApplyOut;
  }

  /** Lines the dataplane logged (pino JSON), parsed. */
  logs(): Array<Record<string, unknown>> {
    return this.stderr.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill(signal);
    });
  }
}

export interface ApplyOut {
  type: string;
  ops: string[];
  errors: Array<{ op: string; code: string; message: string; network?: string }>;
  networkErrors: Array<{ network: string; message: string }>;
}

/** Test helper: a network definition for views. */
export function network(p: {
  id: string;
  vni: number;
  type?: ViewNetwork['type'];
  cidr?: string;
  mtu?: number;
  tenant?: string;
  name?: string;
}): ViewNetwork {
  return {
    id: p.id,
    tenant: p.tenant ?? 'acme',
    name: p.name ?? p.id,
    type: p.type ?? 'vxlan',
    vni: p.vni,
    cidr: p.cidr ?? '10.0.0.0/24',
    gateway: null,
    mtu: p.mtu ?? 1450,
    domain: 'freight.internal',
    flood: [],
  };
}

/**
 * Builds each node's view the way the controller would: every network with an endpoint
 * anywhere is present on all listed nodes; flood = the other nodes hosting endpoints.
 */
export function viewsFor(
  h: Harness,
  nets: ViewNetwork[],
  eps: Array<Omit<ViewEndpoint, 'vtep' | 'node'> & { nodeIndex: number }>,
  revision = 1,
): NodeView[] {
  const views: NodeView[] = [];
  for (let i = 0; i < h.nodeCount; i++) {
    const me = h.node(i);
    const networks: Record<string, ViewNetwork> = {};
    for (const n of nets) {
      const hosts = new Set(eps.filter((e) => e.network === n.id).map((e) => h.node(e.nodeIndex).underlayIp));
      networks[n.id] = { ...n, flood: [...hosts].filter((ip) => ip !== me.underlayIp).sort() };
    }
    const endpoints: Record<string, ViewEndpoint> = {};
    for (const e of eps) {
      const { nodeIndex, ...rest } = e;
      endpoints[e.id] = { ...rest, node: h.node(nodeIndex).name, vtep: h.node(nodeIndex).underlayIp };
    }
    views.push({ node: me.name, underlayIp: me.underlayIp, revision, networks, endpoints, containers: {}, keys: {} });
  }
  return views;
}

export function endpoint(id: string, network: string, nodeIndex: number, mac: string, ip: string) {
  return { id, network, kind: 'container' as const, owner: id, name: id, mac, ip, ifindex: 0, nodeIndex };
}
