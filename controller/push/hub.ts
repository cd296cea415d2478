import { performance } from 'node:perf_hooks';
import type { InfraCounters, PackageRecord } from '../../protocol/stream.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Db } from '../store/db.js';
import type { KeyAccess } from '../view/load.js';
import { AckBook } from './acks.js';
import type { StreamToken } from './auth.js';
import { catchUpNow, recheckTokensNow } from './catch-up.js';
import { paceMs } from './pacing.js';
import { newCounters, type PushCore } from './core.js';
import { PushError } from './errors.js';
import { onAgentMessage } from './handshake.js';
import { ClusterModel } from './model.js';
import { pruneChangeLog } from './nodes.js';
import type { ResolvedOptions } from './options.js';
import { counterOf, gaugeOf, Registry } from '../../lib/metrics.js';
import { Serial } from '../../lib/serial.js';
import { AgentConn } from './session.js';
import { dropExecs, startExec, type ExecHandle, type ExecRelaySink } from './exec.js';
import type { ExecStart } from '../../protocol/exec.js';

/**
 * One replica's push engine: owns the connections and puts the parts together — the model
 * (model.ts), change-log catch-up and revocation (catch-up.ts), the agent handshake and its
 * messages (handshake.ts), ack bookkeeping (acks.ts). Every change of the model and every
 * delta goes through one serial queue, so deltas leave in revision order.
 */
/** What a node answers about a container's packages. */
export interface PackagesAnswer {
  packages: PackageRecord[];
  invalid: number;
  truncated: boolean;
}

/** What a node answers about security group rules: packets and bytes by rule id. */
export type SgStats = Record<string, { packets: number; bytes: number }>;

export class Hub {
  private readonly core: PushCore;
  private readonly acks: AckBook;
  private catchUpQueued = false;
  /** performance.now() before which the next catch-up waits (a burst's pacing) */
  private pacedUntil = 0;
  private retry?: NodeJS.Timeout;
  private closed = false;

  constructor(
    db: Db,
    log: Logger,
    opts: ResolvedOptions,
    onNodeReady?: (node: string) => Promise<void>,
    keys: KeyAccess = null,
    private readonly registry: Registry = new Registry(),
  ) {
    this.core = {
      db,
      log,
      opts,
      keys,
      onNodeReady,
      model: new ClusterModel(),
      conns: new Set(),
      byNode: new Map(),
      serial: new Serial(),
      counters: newCounters(),
      resyncNodes: new Set(),
      revoke: (c, why) => this.revoke(c, why),
      recordCommit: (revision, at) => this.acks.recordCommit(revision, at),
      observeAck: (c, revision) => this.acks.observeAck(c, revision),
    };
    this.acks = new AckBook(this.core, registry);
    this.registerMetrics();
  }

  /** Newest change-log revision applied to the model (and sent to every live agent). */
  get cursor(): number {
    return this.core.model.cursor;
  }

  /** Loads the model from one consistent database snapshot. */
  async start(): Promise<void> {
    const { core } = this;
    await core.serial.run(async () => core.model.adopt(await ClusterModel.load(core.db, core.keys)));
  }

  /**
   * Schedules a read of the change log past the cursor (coalesced: NOTIFY bursts cost one read).
   * After the fan-out of a bulk change the next one waits (pacing.ts, at most options.coalesceMs):
   * in a burst of writes, fewer and larger deltas cost every agent and this event loop far less
   * than one message per commit. After a small change: at once.
   */
  catchUp(): Promise<void> {
    if (this.catchUpQueued || this.closed) return Promise.resolve();
    this.catchUpQueued = true;
    return this.whenPaced();
  }

  /**
   * The pace is read again once the serial queue is ours: a NOTIFY during a bulk fan-out schedules
   * the next one before that fan-out has set its pace, and would otherwise run right after it.
   * The wait itself is outside the queue (hellos and resumes go on meanwhile).
   */
  private async whenPaced(): Promise<void> {
    for (;;) {
      const wait = this.pacedUntil - performance.now();
      if (wait >= 1) await new Promise<void>((r) => setTimeout(r, wait));
      const ran = await this.core.serial.run(async () => {
        if (this.pacedUntil - performance.now() >= 1 && !this.closed) return false;
        await this.catchUpOnce();
        return true;
      });
      if (ran) return;
    }
  }

  private async catchUpOnce(): Promise<void> {
    this.catchUpQueued = false;
    if (this.closed) return;
    try {
      this.pacedUntil = performance.now() + paceMs(await catchUpNow(this.core), this.core.opts.coalesceMs);
    } catch (err) {
      this.pacedUntil = 0;
      this.core.counters.errors++;
      this.core.log.warn({ err }, 'push catch-up: database unavailable, retrying');
      clearTimeout(this.retry);
      if (!this.closed) this.retry = setTimeout(() => void this.catchUp(), 1000);
    }
  }

  private revoke(c: AgentConn, why: string): void {
    this.core.counters.revoked++;
    this.core.log.warn({ node: c.node ?? c.tokenNode, token: c.tokenId, why }, 'closing a revoked agent stream');
    c.kill(1008, 'revoked');
    c.dropLogs();
    dropExecs(c);
  }

  /** Backstop of revocation: closes the streams whose token is no longer valid (or whose node is gone). */
  async recheckTokens(): Promise<void> {
    await this.core.serial.run(() => recheckTokensNow(this.core));
  }

  private overflowed(c: AgentConn): void {
    this.core.counters.overflows++;
    const node = c.node ?? c.tokenNode;
    this.core.resyncNodes.add(node);
    this.core.log.warn(
      { node, buffered: c.ws.bufferedAmount, highWater: this.core.opts.highWaterBytes },
      'agent not reading: stream dropped past the high-water mark (next hello gets a snapshot)',
    );
  }

  /** A new WebSocket whose upgrade carried a valid node token. */
  attach(ws: WebSocket, token: StreamToken): void {
    const { opts } = this.core;
    const c = new AgentConn(ws, token.node, token.tokenId, opts.clock.now(), opts.highWaterBytes, (x) => this.overflowed(x));
    this.core.conns.add(c);
    ws.on('message', (data) => void onAgentMessage(this.core, c, data.toString()));
    ws.on('close', () => this.detach(c));
    ws.on('error', () => ws.terminate());
  }

  private detach(c: AgentConn): void {
    const { conns, byNode, counters } = this.core;
    conns.delete(c);
    // the node's stream: its current one, or one that closed between hello and resume (before it
    // became current) while no other stream of the node is here
    const current = !!c.node && (byNode.get(c.node) === c || !byNode.has(c.node));
    if (c.node && byNode.get(c.node) === c) byNode.delete(c.node);
    counters.bytes += c.bytesSent;
    c.dropLogs();
    dropExecs(c);
    // the node's own stream ended (not a superseded one, not this controller shutting down): NotReady now
    this.acks.closed(c, current && !this.closed);
  }

  /** Heartbeat tick (of one slice of the connections, AckBook.heartbeat): ping live agents with the cursor, drop silent connections. */
  heartbeat(slice = 0, slices = 1): void {
    this.acks.heartbeat(slice, slices);
  }

  /** Writes acks/last_seen in one statement, then marks silent nodes NotReady (only if the write worked). */
  flush(checkSilent: boolean): Promise<void> {
    return this.acks.flush(checkSilent);
  }

  async prune(): Promise<number> {
    return pruneChangeLog(this.core.db, this.core.opts.retention);
  }

  requestLogs(node: string, container: string, tail: number): Promise<string> {
    const c = this.core.byNode.get(node);
    if (!c || !c.live) return Promise.reject(new PushError('node_unavailable', `logs of ${container}: node ${node} is not connected`));
    const requestId = randomUUID();
    const timeoutMs = this.core.opts.logsTimeoutMs;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.logs.delete(requestId);
        reject(new PushError('timeout', `logs of ${container} from node ${node}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      c.logs.set(requestId, { resolve, reject, timer });
      c.send({ type: 'logs', requestId, container, tail });
    });
  }

  /** The components of a container's root, read by its node from the root's rpm database. */
  requestPackages(node: string, container: string): Promise<PackagesAnswer> {
    const c = this.core.byNode.get(node);
    if (!c || !c.live) return Promise.reject(new PushError('node_unavailable', `packages of ${container}: node ${node} is not connected`));
    const requestId = randomUUID();
    // reading a database can take longer than a log tail
    const timeoutMs = Math.max(this.core.opts.logsTimeoutMs, 30_000);
    return new Promise<PackagesAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.logs.delete(requestId);
        reject(new PushError('timeout', `packages of ${container} from node ${node}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      c.logs.set(requestId, { resolve, reject, timer });
      c.send({ type: 'packages', requestId, container });
    });
  }

  /** Packets and bytes of these security group rules on the node (its nft counters, read when asked). */
  requestSgStats(node: string, rules: string[]): Promise<SgStats> {
    const c = this.core.byNode.get(node);
    if (!c || !c.live) return Promise.reject(new PushError('node_unavailable', `sg stats: node ${node} is not connected`));
    const requestId = randomUUID();
    const timeoutMs = this.core.opts.logsTimeoutMs;
    return new Promise<SgStats>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.logs.delete(requestId);
        reject(new PushError('timeout', `sg stats from node ${node}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      c.logs.set(requestId, { resolve: resolve, reject, timer });
      c.send({ type: 'sg-stats', requestId, rules });
    });
  }

  /** The DHCP/DNS counters of an infra instance, scraped by its node now (short timeout: `container show` waits for it). */
  requestInfraCounters(node: string, container: string): Promise<InfraCounters> {
    const c = this.core.byNode.get(node);
    if (!c || !c.live) return Promise.reject(new PushError('node_unavailable', `infra counters: node ${node} is not connected`));
    if (!c.infraCounters)
      return Promise.reject(
        new PushError('node_unavailable', `infra counters: the agent of node ${node} does not answer them (older agent)`),
      );
    const requestId = randomUUID();
    const timeoutMs = Math.min(this.core.opts.logsTimeoutMs, 3000);
    return new Promise<InfraCounters>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.logs.delete(requestId);
        reject(new PushError('timeout', `infra counters from node ${node}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      c.logs.set(requestId, { resolve, reject, timer });
      c.send({ type: 'infra-counters', requestId, container });
    });
  }

  /** Runs a command in a container on the node, through its stream (controller/push/exec.ts). */
  exec(node: string, container: string, req: ExecStart, sink: ExecRelaySink): ExecHandle {
    return startExec(this.core, node, container, req, sink);
  }

  /** Prometheus text of this hub's registry (the app's, when the app made the hub). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private registerMetrics(): void {
    const r = this.registry;
    const { conns, counters: n } = this.core;
    gaugeOf(
      r,
      'freight_push_agents_connected',
      'Agents with a live stream on this replica.',
      () => [...conns].filter((c) => c.live).length,
    );
    gaugeOf(r, 'freight_push_revision', 'Newest change-log revision this replica has pushed.', () => this.cursor);
    counterOf(r, 'freight_push_deltas_total', 'Delta messages sent.', () => n.deltas);
    counterOf(r, 'freight_push_snapshots_total', 'Snapshot messages sent.', () => n.snapshots);
    counterOf(r, 'freight_push_bytes_sent_total', 'Bytes sent to agents.', () => [...conns].reduce((b, c) => b + c.bytesSent, n.bytes));
    counterOf(r, 'freight_push_db_errors_total', 'Change-log reads that failed.', () => n.errors);
    counterOf(r, 'freight_push_batches_total', 'Change-log batches fanned out.', () => n.batches);
    counterOf(r, 'freight_push_fanout_seconds_total', 'Time spent computing and queueing deltas.', () => n.fanoutMs / 1000);
    counterOf(r, 'freight_push_overflow_drops_total', 'Streams dropped past the send high-water mark.', () => n.overflows);
    counterOf(r, 'freight_push_revoked_closes_total', 'Streams closed because their token was revoked.', () => n.revoked);
    counterOf(r, 'freight_push_resume_reads_total', 'Change-log reads made to answer hellos.', () => n.resumeReads);
    counterOf(r, 'freight_push_ack_timeouts_total', 'Times an agent did not acknowledge within the ack timeout.', () => n.late);
    gaugeOf(r, 'freight_push_buffered_bytes', "Bytes queued in the agents' sockets.", () =>
      [...conns].reduce((b, c) => b + c.ws.bufferedAmount, 0),
    );
  }

  connected(): string[] {
    return [...this.core.byNode].filter(([, c]) => !c.ended).map(([n]) => n);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    for (const c of this.core.conns) c.ws.terminate();
    await this.core.serial.run(async () => {});
  }
}
