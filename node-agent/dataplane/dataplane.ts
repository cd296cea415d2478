/**
 * The node's dataplane: apply(view) reads the kernel, plans the difference and executes
 * it; an audit loop (every auditMs, and shortly after link/neigh deletions seen on the
 * RTNLGRP_LINK/NEIGH multicast groups) repairs drift. Restart-safe: start() never
 * flushes; the first apply changes only the difference.
 */
import type { Logger } from 'pino';
import type { NodeView } from '../../protocol/view.js';
import { NetlinkGateway, RTM, RTNLGRP } from '../kernel/netlink.js';
import { probeCapabilities } from '../kernel/probe.js';
import { resolveMappings } from '../kernel/uplink.js';
import { desiredState } from './desired.js';
import { execute, type OpError } from './executor.js';
import { countersOf, emptyMetrics, registerDataplaneMetrics, type DataplaneMetrics } from './metrics.js';
import { describeOp } from './ops.js';
import { sgDrops, sgRuleCounters, type SgDrop } from './sg-counters.js';
import { plan } from './planner.js';
import { orientSas, readActual, readNft } from './reader.js';
import type { NetworkError, NodeFacts } from './types.js';
import { Serial } from '../../lib/serial.js';
import { Registry, since, type Histogram } from '../../lib/metrics.js';

export interface DataplaneOptions {
  node: string;
  underlayIp: string;
  underlayMtu?: number;
  /** physical network → mapped interface (`--physical-network NAME=IFACE`), checked at start */
  physicalNetworks?: ReadonlyMap<string, string>;
  /** skip the probe (tests of pure behaviour, or a caller that probed already) */
  capabilities?: NodeFacts['capabilities'];
  auditMs?: number;
  /** debounce after a kernel event before auditing */
  eventDelayMs?: number;
  log: Logger;
  /** Where the metrics go (the agent's registry; a private one when omitted). */
  registry?: Registry;
}

export interface ApplyResult {
  revision: number;
  ops: string[];
  errors: OpError[];
  networkErrors: NetworkError[];
}

export class Dataplane {
  private route?: NetlinkGateway;
  private xfrm?: NetlinkGateway;
  private events?: NetlinkGateway;
  private facts?: NodeFacts;
  private view?: NodeView;
  private readonly attachments = new Map<string, string>();
  private readonly metricsState: DataplaneMetrics = emptyMetrics();
  private readonly queue = new Serial();
  private auditTimer?: NodeJS.Timeout;
  private eventTimer?: NodeJS.Timeout;
  private stopped = false;
  private nftCounters: Record<string, number> = {};
  private sgCounters: { drops: SgDrop[]; rules: ReturnType<typeof sgRuleCounters> } = { drops: [], rules: {} };

  private readonly registry: Registry;
  private readonly applySeconds: Histogram<'node'>;

  constructor(private readonly opts: DataplaneOptions) {
    this.registry = opts.registry ?? new Registry();
    this.applySeconds = registerDataplaneMetrics(
      this.registry,
      opts.node,
      this.metricsState,
      () => this.nftCounters,
      () => this.sgCounters.drops,
    );
  }

  get capabilities(): NodeFacts['capabilities'] | undefined {
    return this.facts?.capabilities;
  }

  async start(): Promise<void> {
    this.route = NetlinkGateway.open('route');
    this.xfrm = NetlinkGateway.open('xfrm');
    const capabilities =
      this.opts.capabilities ??
      (await probeCapabilities(this.route, await resolveMappings(this.route, this.opts.physicalNetworks ?? new Map())));
    this.facts = { node: this.opts.node, underlayIp: this.opts.underlayIp, underlayMtu: this.opts.underlayMtu ?? 1500, capabilities };
    this.events = NetlinkGateway.open('route', { groups: [RTNLGRP.LINK, RTNLGRP.NEIGH] });
    this.events.onEvent((msgs) => {
      if (msgs.some((m) => m.type === RTM.DELLINK || m.type === RTM.DELNEIGH)) this.scheduleEventAudit();
    });
    // lost notifications (ENOBUFS): re-read everything
    this.events.onError(() => this.scheduleEventAudit());
    const every = this.opts.auditMs ?? 10_000;
    this.auditTimer = setInterval(() => void this.audit('timer'), every);
    this.opts.log.info({ node: this.opts.node, capabilities }, 'dataplane started');
  }

  /** Applies a view: the desired state it implies replaces the previous one. */
  apply(view: NodeView): Promise<ApplyResult> {
    this.view = view;
    return this.serial(() => this.reconcile('apply'));
  }

  /** The runtime asks to keep its veth host end `ifname` (frh-…) in the network's bridge. */
  attach(ifname: string, networkId: string): Promise<ApplyResult | undefined> {
    this.attachments.set(ifname, networkId);
    return this.serial(() => (this.view ? this.reconcile('attach') : Promise.resolve(undefined)));
  }

  detach(ifname: string): void {
    this.attachments.delete(ifname);
  }

  /** One audit pass (also run by the timer and by kernel events). */
  audit(why = 'manual'): Promise<ApplyResult | undefined> {
    if (!this.view || this.stopped) return Promise.resolve(undefined);
    return this.serial(() => this.reconcile(`audit:${why}`));
  }

  /** Prometheus text of the dataplane's registry (the agent's, when the agent gave one). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** nft drop counters (`bridge:spoof_mac` …) as of the last apply or audit. */
  get dropCounters(): Record<string, number> {
    return { ...this.nftCounters };
  }

  /** Security group counters as of the last apply or audit: drops per container, packets and bytes per rule id. */
  get securityGroupCounters(): { drops: SgDrop[]; rules: ReturnType<typeof sgRuleCounters> } {
    return this.sgCounters;
  }

  /** Packets and bytes of these security group rules, read from the kernel now (rules this node lacks are absent). */
  ruleCounters(rules: string[]): Record<string, { packets: number; bytes: number }> {
    if (!this.facts?.capabilities.nft) return {};
    const all = sgRuleCounters(readNft().get('inet'));
    return Object.fromEntries(rules.filter((id) => all[id]).map((id) => [id, all[id]]));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.auditTimer);
    clearTimeout(this.eventTimer);
    this.events?.close();
    this.route?.close();
    this.xfrm?.close();
  }

  private scheduleEventAudit(): void {
    if (this.stopped || this.eventTimer) return;
    this.eventTimer = setTimeout(() => {
      this.eventTimer = undefined;
      void this.audit('event');
    }, this.opts.eventDelayMs ?? 200);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }

  private async reconcile(why: string): Promise<ApplyResult> {
    if (!this.route || !this.facts || !this.view) throw new Error('dataplane not started');
    const desired = desiredState(this.view, this.facts, this.attachments);
    const uplinks = new Set(Object.values(this.facts.capabilities.physicalNetworks ?? {}).map((m) => m.interface));
    const actual = await readActual(this.route, this.xfrm, uplinks);
    orientSas(actual, this.facts.underlayIp);
    if (this.facts.capabilities.nft) actual.nft = readNft();
    this.nftCounters = countersOf(actual.nft);
    this.sgCounters = { drops: sgDrops(actual.nft.get('inet'), this.view), rules: sgRuleCounters(actual.nft.get('inet')) };
    const ops = plan(desired, actual);
    const t0 = performance.now();
    const res = ops.length
      ? await execute(ops, { route: this.route, xfrm: this.xfrm }, actual.ifindex, uplinks)
      : { applied: 0, errors: [] };
    if (ops.length) this.applySeconds.observe({ node: this.opts.node }, since(t0));
    this.account(why, ops.length, res.applied, res.errors.length, desired.networkErrors.length);
    const out = { revision: this.view.revision, ops: ops.map(describeOp), errors: res.errors, networkErrors: desired.networkErrors };
    const log = this.opts.log.child({ node: this.opts.node, why });
    if (why.startsWith('audit') && ops.length) log.warn({ ops: out.ops, errors: res.errors }, 'repaired drift');
    else if (ops.length || res.errors.length) log.info({ ops: ops.length, errors: res.errors }, 'applied');
    return out;
  }

  private account(why: string, planned: number, applied: number, errors: number, networkErrors: number): void {
    const m = this.metricsState;
    if (why.startsWith('audit')) {
      m.audits++;
      m.repairs += applied;
    } else m.applies++;
    m.opsApplied += applied;
    m.errors += errors;
    m.networkErrors = networkErrors;
    void planned;
  }
}
