import { spawnSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { Capabilities } from '../protocol/stream.js';
import type { NodeView } from '../protocol/view.js';
import { holdBackGuarded, inetFailed } from './policy-gate.js';
import { Dataplane } from './dataplane/dataplane.js';
import type { NetworkError } from './dataplane/types.js';
import { InfraFiles } from './infra-files.js';
import { Routers } from './router/routers.js';
import { isIp4 } from '../protocol/addr.js';
import { ContainerRuntime } from './runtime/runtime.js';
import { ExecRunner } from './runtime/exec.js';
import { AgentSession } from './session/session.js';
import { loadView } from './session/store.js';
import { Registry } from '../lib/metrics.js';

export interface AgentOptions {
  /** https://host:port of the controller (http:// only with allowPlaintext) */
  controller: string;
  /** more replicas' URLs: the stream rotates through them on every reconnect (controller first) */
  controllers?: string[];
  token: string;
  /** CA the controller's certificate must chain to (resolved from the join string's pin). */
  tls?: { ca?: string };
  allowPlaintext?: boolean;
  node: string;
  underlayIp: string;
  underlayMtu: number;
  stateDir: string;
  /** The Freight checkout/install bound read-only into infra containers. */
  projectDir: string;
  auditMs?: number;
  heartbeatMs?: number;
  /** Bound of the stream's inbound queue (default 64 MiB): past it the agent resyncs by snapshot. */
  maxQueuedBytes?: number;
  dnsUpstreams?: string[];
  /** physical network → host interface (`--physical-network NAME=IFACE`), checked at start */
  physicalNetworks?: ReadonlyMap<string, string>;
  /** Unused image versions are removed after this long (runtime default 1 h). */
  imageGcGraceMs?: number;
  /** Addresses/CIDRs tenant traffic routed through this node never reaches (the controller's host is always in). */
  egressDeny?: string[];
  log: Logger;
}

export function streamUrl(controller: string): string {
  const u = new URL('/v1/agent/stream', controller);
  // http(s) → ws(s); never upgraded or downgraded silently (the session refuses ws:// unless allowed)
  u.protocol = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:';
  return u.toString();
}

/**
 * One node: the session delivers views; each view goes to the dataplane (networks,
 * FDB, neighbours, xfrm, nft), then the infra config files, then the runtime (containers
 * and their veths). Only when all three are done does the session persist and ack.
 */
export class Agent {
  private dataplane!: Dataplane;
  private routers!: Routers;
  private routerTimer?: NodeJS.Timeout;
  private lastView?: NodeView;
  /** containers the runtime was last given (the policy gate lets these keep running) */
  private started = new Set<string>();
  private runtime!: ContainerRuntime;
  private execs!: ExecRunner;
  private session!: AgentSession;
  private readonly infra: InfraFiles;
  private networkErrors: NetworkError[] = [];
  private statusTimer?: NodeJS.Timeout;
  private resendTimer?: NodeJS.Timeout;

  /** This agent's metrics (no process-wide default registry). */
  readonly registry = new Registry();

  private constructor(private readonly o: AgentOptions) {
    this.infra = new InfraFiles(o.stateDir, o.dnsUpstreams);
  }

  static async start(o: AgentOptions): Promise<Agent> {
    const a = new Agent(o);
    await a.open();
    return a;
  }

  private async open(): Promise<void> {
    const o = this.o;
    this.dataplane = new Dataplane({
      node: o.node,
      underlayIp: o.underlayIp,
      underlayMtu: o.underlayMtu,
      physicalNetworks: o.physicalNetworks,
      auditMs: o.auditMs,
      log: o.log,
      registry: this.registry,
    });
    await this.dataplane.start();
    const controllerHosts = [...new Set([o.controller, ...(o.controllers ?? [])].map((c) => new URL(c).hostname))];
    this.routers = new Routers({
      underlayIp: o.underlayIp,
      stateDir: o.stateDir,
      deny: [...controllerHosts.filter(isIp4), ...(o.egressDeny ?? [])],
      log: o.log.child({ module: 'router' }),
    });
    this.runtime = await ContainerRuntime.open({
      stateDir: o.stateDir,
      projectDir: o.projectDir,
      log: o.log.child({ module: 'runtime' }),
      onStatus: () => this.reportSoon(),
      imageGcGraceMs: o.imageGcGraceMs,
    });
    // adopted containers run already: the policy gate never stops them
    this.started = new Set(this.runtime.statuses().map((s) => s.id));
    this.execs = new ExecRunner({ log: o.log.child({ module: 'exec' }) });
    const execs = this.execs;
    const runtime = this.runtime;
    // A restarted agent re-asserts what it last applied before it hears from the
    // controller: identical state plans zero ops, and nothing is ever flushed.
    const saved = await loadView(o.stateDir);
    if (saved && saved.node === o.node) await this.apply(saved);
    this.session = new AgentSession({
      url: streamUrl(o.controller),
      urls: (o.controllers ?? []).map(streamUrl),
      token: o.token,
      tls: o.tls,
      allowPlaintext: o.allowPlaintext,
      node: o.node,
      underlayIp: o.underlayIp,
      underlayMtu: o.underlayMtu,
      capabilities: this.capabilities(),
      stateDir: o.stateDir,
      heartbeatMs: o.heartbeatMs,
      maxQueuedBytes: o.maxQueuedBytes,
      onView: (view) => this.apply(view),
      onLogs: async (container, tail) => this.runtime.logs(container, tail),
      onPackages: (container) => this.runtime.packages(container),
      onSgStats: (rules) => this.dataplane.ruleCounters(rules),
      onInfraCounters: (container) => this.runtime.infraCounters(container),
      exec: {
        start: (id, req, sink) => void execs.start(id, req, () => runtime.execTarget(req.container), sink),
        input: (id, data, eof) => execs.input(id, data, eof),
        resize: (id, size) => execs.resize(id, size),
        kill: (id) => execs.kill(id),
        killAll: () => execs.killAll(),
      },
      onApplied: (_rev, how) => {
        if (how !== 'ping') this.reportSoon();
      },
      log: o.log,
    });
    await this.session.start();
    // routers are audited like links: drift (a port deleted by hand, an infra netns started later) is repaired
    this.routerTimer = setInterval(() => {
      if (this.lastView) void this.routers.apply(this.lastView, true);
    }, o.auditMs ?? 10_000);
    this.routerTimer.unref();
    // statuses are idempotent: re-send now and then so a controller that missed one (restart, replica switch) catches up
    this.resendTimer = setInterval(() => this.report(), 10_000);
    this.resendTimer.unref();
  }

  capabilities(): Capabilities {
    const c = this.dataplane.capabilities!;
    return { ...c, nspawn: c.nspawn ?? spawnSync('systemd-nspawn', ['--version']).status === 0 };
  }

  async apply(view: NodeView): Promise<void> {
    const r = await this.dataplane.apply(view);
    this.lastView = view;
    const routed = await this.routers.apply(view);
    this.networkErrors = [...r.networkErrors, ...routed].map((e) => ({ network: e.network, message: e.message }));
    await this.infra.sync(view);
    // fail closed: a container under policy does not start while its rules failed to install
    const gate = inetFailed(r.errors) ? holdBackGuarded(view, this.started) : { view, held: [] };
    for (const id of gate.held) {
      const net = Object.values(view.endpoints).find((e) => e.owner === id)?.network;
      if (net) this.networkErrors.push({ network: net, message: `container ${id} held back: its security group rules failed to install` });
    }
    await this.runtime.apply(gate.view);
    this.started = new Set(Object.keys(gate.view.containers));
    this.reportSoon();
  }

  private reportSoon(): void {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.report();
    }, 100);
  }

  private report(): void {
    this.session?.sendStatus(this.runtime.statuses(), this.networkErrors);
  }

  /** Prometheus text of this agent's registry. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops listening and watching; containers and kernel state stay as they are. */
  async stop(): Promise<void> {
    clearTimeout(this.statusTimer);
    clearInterval(this.resendTimer);
    clearInterval(this.routerTimer);
    await this.session?.stop();
    this.execs?.killAll();
    await this.runtime?.close();
    this.dataplane?.stop();
  }
}
