import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { AgentMessage } from '../../protocol/stream.js';
import type { NodeView, ViewOp } from '../../protocol/view.js';
import type { Db } from '../store/db.js';
import { applyRefresh } from '../view/apply.js';
import { compileView, type FloodMemo } from '../view/compile.js';
import { applyInPlace, liveOps, resumeOps } from '../view/diff.js';
import { loadRefresh, loadState, logBounds, readChanges, type KeyAccess } from '../view/load.js';
import type { ChangeRow } from '../view/diff.js';
import { emptyState, type ClusterState } from '../view/state.js';
import { PushError } from './errors.js';
import { validTokens, type StreamToken } from './auth.js';
import { flushNodes, helloNode, markSilentNodes, pruneChangeLog, saveStatus, type NodeMark } from './nodes.js';
import type { ResolvedOptions } from './options.js';
import { isRevoked, revokedIn } from './revoke.js';
import { Serial } from '../../lib/serial.js';
import { counterOf, gaugeOf, Histogram, LATENCY_BUCKETS, Registry } from '../../lib/metrics.js';
import { AgentConn } from './session.js';

type Hello = Extract<AgentMessage, { type: 'hello' }>;

/**
 * One replica's push engine: the cluster model, the change-log cursor, the agent
 * connections. Every change of the model and every delta goes through one serial
 * queue, so deltas leave in revision order.
 */
export class Hub {
  state: ClusterState = emptyState();
  /** Newest change-log revision applied to the model (and sent to every live agent). */
  cursor = 0;
  private readonly conns = new Set<AgentConn>();
  private readonly byNode = new Map<string, AgentConn>();
  private readonly serial = new Serial();
  private catchUpQueued = false;
  private retry?: NodeJS.Timeout;
  private closed = false;
  private flushFailing = false;
  /** Nodes whose connection was dropped past the high-water mark: their next hello here gets a snapshot. */
  private readonly resyncNodes = new Set<string>();
  readonly counters = { deltas: 0, snapshots: 0, bytes: 0, catchUps: 0, errors: 0, batches: 0, fanoutMs: 0, overflows: 0, revoked: 0, late: 0 };

  /** Newest revision of each recent batch and its commit time (ms), for commit→ack; bounded. */
  private readonly commits: Array<[number, number]> = [];
  private readonly commitToAck: Histogram;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly opts: ResolvedOptions,
    private readonly onNodeReady?: (node: string) => Promise<void>,
    /** Opens sealed ipsec keys; null on a plaintext controller: views then carry no key. */
    private readonly keys: KeyAccess = null,
    private readonly registry: Registry = new Registry(),
  ) {
    this.registerMetrics();
    this.commitToAck = new Histogram({
      name: 'freight_push_commit_to_ack_seconds', help: 'From a change\'s commit to an agent\'s ack of it (database clock to controller clock).',
      buckets: LATENCY_BUCKETS, registers: [registry],
    });
  }

  /** Loads the model from one consistent database snapshot. */
  async start(): Promise<void> {
    await this.serial.run(async () => {
      const { state, revision } = await this.db.tx(async (q) => {
        await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        return loadState(q, this.keys);
      });
      this.state = state;
      this.cursor = revision;
    });
  }

  /** Schedules a read of the change log past the cursor (coalesced: NOTIFY bursts cost one read). */
  catchUp(): Promise<void> {
    if (this.catchUpQueued || this.closed) return Promise.resolve();
    this.catchUpQueued = true;
    return this.serial.run(async () => {
      this.catchUpQueued = false;
      try {
        await this.catchUpNow();
      } catch (err) {
        this.counters.errors++;
        this.log.warn({ err: String(err) }, 'push catch-up: database unavailable, retrying');
        clearTimeout(this.retry);
        if (!this.closed) this.retry = setTimeout(() => void this.catchUp(), 1000);
      }
    });
  }

  /** Inside the queue: reads change rows in batches, refreshes the model, sends deltas. */
  private async catchUpNow(): Promise<void> {
    for (;;) {
      const rows = await readChanges(this.db, this.cursor, undefined, 5000);
      if (rows.length === 0) return;
      this.counters.catchUps++;
      if (this.cursor > 0 && rows[0].revision > this.cursor + 1 && (await logBounds(this.db)).oldest === rows[0].revision) {
        // the log was pruned past our cursor: rebuild the model and diff every view fully
        await this.reload();
        continue;
      }
      // revocations first: a revoked stream gets nothing of this batch (nor of anything later)
      this.closeRevoked(rows);
      const fx = applyRefresh(this.state, await loadRefresh(this.db, rows, this.keys));
      const revision = rows[rows.length - 1].revision;
      const memo: FloodMemo = new Map();
      const json: OpJson = new WeakMap();
      const t0 = performance.now();
      this.cursor = revision;
      for (const c of this.conns) {
        if (!c.live || !c.nodeId) continue;
        this.sendDelta(c, liveOps(this.state, c.nodeId, fx, c.sent, memo), revision, json);
      }
      this.counters.fanoutMs += performance.now() - t0;
      this.counters.batches++;
      const at = rows[rows.length - 1].at;
      if (at !== undefined && Number.isFinite(at)) {
        this.commits.push([revision, at]);
        if (this.commits.length > 1024) this.commits.shift();
      }
      if (rows.length < 5000) return;
    }
  }

  private async reload(): Promise<void> {
    const { state, revision } = await this.db.tx(async (q) => {
      await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      return loadState(q, this.keys);
    });
    // the pruned rows may have held revocations
    await this.recheckTokensNow();
    // no await from here on: a heartbeat must never announce the new cursor before the deltas
    this.state = state;
    this.cursor = revision;
    for (const c of this.conns) {
      if (!c.live || !c.node) continue;
      c.nodeId = this.state.nodeIdByName.get(c.node);
      this.sendDelta(c, fullOps(c.sent, compileView(this.state, c.node, this.cursor)), this.cursor);
    }
  }

  private sendDelta(c: AgentConn, ops: ViewOp[], revision: number, json: OpJson = new WeakMap()): void {
    if (ops.length === 0) return;
    c.sendText(`{"type":"delta","from":${c.position},"revision":${revision},"ops":[${ops.map((op) => opJson(op, json)).join(',')}]}`);
    c.position = revision;
    c.desired = revision;
    c.dirty = true;
    this.counters.deltas++;
  }

  /** Revoked tokens and deleted nodes among change rows: their streams close before anything else is sent. */
  private closeRevoked(rows: ChangeRow[]): void {
    const r = revokedIn(rows);
    if (r.tokens.size === 0 && r.nodes.size === 0) return;
    for (const c of this.conns) if (!c.ended && isRevoked(r, c.tokenId, c.nodeId)) this.revoke(c, 'token revoked or node deleted');
  }

  private revoke(c: AgentConn, why: string): void {
    this.counters.revoked++;
    this.log.warn({ node: c.node ?? c.tokenNode, token: c.tokenId, why }, 'closing a revoked agent stream');
    c.kill(1008, 'revoked');
    c.dropLogs();
  }

  /** Backstop of revocation: closes the streams whose token is no longer valid (or whose node is gone). */
  async recheckTokens(): Promise<void> {
    await this.serial.run(() => this.recheckTokensNow());
  }

  private async recheckTokensNow(): Promise<void> {
    const open = [...this.conns].filter((c) => !c.ended);
    if (open.length === 0) return;
    const valid = await validTokens(this.db, [...new Set(open.map((c) => c.tokenId))]);
    for (const c of open) if (!c.ended && !valid.has(c.tokenId)) this.revoke(c, 'token no longer valid (periodic check)');
  }

  private overflowed(c: AgentConn): void {
    this.counters.overflows++;
    const node = c.node ?? c.tokenNode;
    this.resyncNodes.add(node);
    this.log.warn({ node, buffered: c.ws.bufferedAmount, highWater: this.opts.highWaterBytes }, 'agent not reading: stream dropped past the high-water mark (next hello gets a snapshot)');
  }

  /** A new WebSocket whose upgrade carried a valid node token. */
  attach(ws: WebSocket, token: StreamToken): void {
    const c = new AgentConn(ws, token.node, token.tokenId, this.opts.clock.now(), this.opts.highWaterBytes, (x) => this.overflowed(x));
    this.conns.add(c);
    ws.on('message', (data) => void this.onMessage(c, data.toString()));
    ws.on('close', () => this.detach(c));
    ws.on('error', () => ws.terminate());
  }

  private detach(c: AgentConn): void {
    this.conns.delete(c);
    if (c.node && this.byNode.get(c.node) === c) this.byNode.delete(c.node);
    this.counters.bytes += c.bytesSent;
    c.dropLogs();
    // keep its last acks for the next flush
    if (c.node && c.dirty) this.leftovers.set(c.node, this.mark(c));
  }

  private mark(c: AgentConn): NodeMark {
    return { name: c.node!, tokenId: c.tokenId, seen: c.seen && !c.ended, late: c.late, applied: c.applied, desired: c.desired };
  }

  private readonly leftovers = new Map<string, NodeMark>();

  private async onMessage(c: AgentConn, text: string): Promise<void> {
    if (c.ended) return;
    let msg: AgentMessage;
    try {
      const parsed = AgentMessage.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      msg = parsed.data;
    } catch (err) {
      c.fail('bad_message', `agent stream of ${c.tokenNode}: invalid message: ${(err as Error).message}`.slice(0, 500));
      return;
    }
    c.heard(this.opts.clock.now());
    if (msg.type === 'hello') return this.onHello(c, msg);
    // pings and acks may arrive while the hello is still being answered
    if (!c.helloSeen) return c.fail('bad_message', `agent stream of ${c.tokenNode}: ${msg.type} before hello`);
    switch (msg.type) {
      case 'ack':
        this.observeAck(c.applied, msg.revision);
        c.acked(msg.revision);
        return;
      case 'ping':
        return;
      case 'status':
        c.networkErrors = msg.networkErrors;
        await saveStatus(this.db, c.tokenNode, msg.containers).catch((err) =>
          this.log.warn({ node: c.tokenNode, err: String(err) }, 'save container status failed'));
        return;
      case 'logs': {
        const p = c.logs.get(msg.requestId);
        if (!p) return;
        c.logs.delete(msg.requestId);
        clearTimeout(p.timer);
        if (msg.error) p.reject(new PushError('node_unavailable', `logs from node ${c.tokenNode}: ${msg.error}`));
        else p.resolve(msg.text);
      }
    }
  }

  private async onHello(c: AgentConn, h: Hello): Promise<void> {
    if (c.helloSeen) return c.fail('bad_message', `agent stream of ${c.tokenNode}: second hello`);
    if (h.node !== c.tokenNode) {
      return c.fail('forbidden', `hello as node ${h.node}: the token belongs to node ${c.tokenNode}`);
    }
    c.helloSeen = true;
    let known: { wasReady: boolean } | undefined;
    try {
      known = await helloNode(this.db, h, c.tokenId);
    } catch (err) {
      return c.fail('unavailable', `register node ${h.node}: ${String((err as Error).message ?? err)}`.slice(0, 500));
    }
    if (c.ended) return;
    // node rows are made by an admin (creating the node's token), never by an agent
    if (!known) return c.fail('not_registered', `node ${h.node} is not registered (deleted, or its token revoked): create a node token for it`);
    const { wasReady } = known;
    try {
      await this.serial.run(() => this.resume(c, h));
    } catch (err) {
      return c.fail('unavailable', `resume node ${h.node}: ${String((err as Error).message ?? err)}`.slice(0, 500));
    }
    if (!wasReady && this.onNodeReady) {
      await this.onNodeReady(h.node).catch((err) => this.log.warn({ node: h.node, err: String(err) }, 'onNodeReady failed'));
    }
  }

  /** Inside the queue: answer a hello at `h.revision` with a delta, a snapshot or nothing. */
  private async resume(c: AgentConn, h: Hello): Promise<void> {
    if (c.ended || c.ws.readyState !== c.ws.OPEN) return;
    await this.catchUpNow();
    const nodeId = this.state.nodeIdByName.get(h.node);
    const { oldest } = await logBounds(this.db);
    const cur = compileView(this.state, h.node, this.cursor);
    const r = h.revision;
    let mode: 'snapshot' | 'delta' | 'current' = 'snapshot';
    let rows = r > 0 && r <= this.cursor && (oldest === 0 || r >= oldest - 1) ? await readChanges(this.db, r, this.cursor, this.opts.maxResumeRows + 1) : undefined;
    if (rows && rows.length > this.opts.maxResumeRows) rows = undefined;
    // an agent that dropped deltas, or that this replica dropped past the high-water mark, gets a snapshot
    if (h.resync || this.resyncNodes.has(h.node)) rows = undefined;
    if (rows) mode = r === this.cursor ? 'current' : 'delta';
    if (c.ended || c.ws.readyState !== c.ws.OPEN) return;
    this.resyncNodes.delete(h.node);
    const old = this.byNode.get(h.node);
    if (old && old !== c) old.ws.close(1000, 'replaced by a new connection');
    c.node = h.node;
    c.nodeId = nodeId;
    c.sent = cur;
    if (mode === 'snapshot') {
      const text = JSON.stringify({ type: 'snapshot', revision: this.cursor, view: cur });
      c.snapshotBytes = Buffer.byteLength(text);
      c.sendText(text);
      c.position = c.desired = this.cursor;
      this.counters.snapshots++;
    } else {
      const ops = nodeId ? resumeOps(this.state, nodeId, rows ?? [], cur) : [];
      c.position = r;
      c.desired = r;
      this.sendDelta(c, ops, this.cursor);
    }
    c.applied = Math.max(c.applied, r);
    c.dirty = true;
    c.live = true;
    this.byNode.set(h.node, c);
    this.log.info({ node: h.node, from: r, revision: this.cursor, mode }, 'agent resumed');
  }

  /** Heartbeat tick: ping live agents with the cursor, drop silent connections. */
  heartbeat(): void {
    const now = this.opts.clock.now();
    const silentMs = this.opts.heartbeatMs * this.opts.missedHeartbeats;
    for (const c of this.conns) {
      if (now - c.lastMessageAt > silentMs) {
        this.log.warn({ node: c.node ?? c.tokenNode }, 'agent silent: closing its stream');
        c.ws.terminate();
        continue;
      }
      if (!c.live) continue;
      if (!c.send({ type: 'ping', revision: this.cursor, t: now })) continue;
      // the agent adopts the ping's revision once it applied what came before
      if (this.cursor > c.position) {
        c.position = this.cursor;
        c.desired = this.cursor;
        c.dirty = true;
      }
      c.checkpoint(now);
      // not acknowledging in time makes the node NotReady (written by the next flush)
      if (c.lateBy(now, this.opts.ackTimeoutMs)) {
        if (!c.late) {
          c.late = true;
          this.counters.late++;
          this.log.warn({ node: c.node, applied: c.applied, desired: c.desired }, 'node NotReady: no ack within the ack timeout');
        }
        c.dirty = true;
      } else if (c.late) {
        c.late = false;
        c.dirty = true;
      }
    }
  }

  /** Writes acks/last_seen in one statement, then marks silent nodes NotReady (only if the write worked). */
  async flush(checkSilent: boolean): Promise<void> {
    const marks = new Map(this.leftovers);
    for (const c of this.conns) {
      if (c.live && c.node && c.dirty) marks.set(c.node, this.mark(c));
    }
    const taken = [...this.conns].filter((c) => c.live && c.dirty);
    for (const c of taken) c.dirty = c.seen = false;
    try {
      const became = await flushNodes(this.db, [...marks.values()]);
      this.flushFailing = false;
      this.leftovers.clear();
      for (const node of became) {
        this.log.info({ node }, 'node ready');
        await this.onNodeReady?.(node).catch((err) => this.log.warn({ node, err: String(err) }, 'onNodeReady failed'));
      }
      if (checkSilent) {
        for (const node of await markSilentNodes(this.db, this.opts.heartbeatMs * this.opts.missedHeartbeats)) {
          this.log.warn({ node }, 'node NotReady: silent');
        }
      }
    } catch (err) {
      // the database is away: keep the news for the next flush, mark nobody NotReady
      for (const c of taken) c.dirty = true;
      for (const [k, v] of marks) if (!this.byNode.has(k)) this.leftovers.set(k, v);
      for (const c of taken) if (c.node && marks.get(c.node)?.seen) c.seen = true;
      if (!this.flushFailing) this.log.warn({ err: String(err) }, 'push flush: database unavailable, retrying');
      this.flushFailing = true;
      return;
    }
  }

  async prune(): Promise<number> {
    return pruneChangeLog(this.db, this.opts.retention);
  }

  requestLogs(node: string, container: string, tail: number): Promise<string> {
    const c = this.byNode.get(node);
    if (!c || !c.live) return Promise.reject(new PushError('node_unavailable', `logs of ${container}: node ${node} is not connected`));
    const requestId = randomUUID();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.logs.delete(requestId);
        reject(new PushError('timeout', `logs of ${container} from node ${node}: no answer in ${this.opts.logsTimeoutMs} ms`));
      }, this.opts.logsTimeoutMs);
      c.logs.set(requestId, { resolve, reject, timer });
      c.send({ type: 'logs', requestId, container, tail });
    });
  }

  /** Prometheus text of this hub's registry (the app's, when the app made the hub). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private registerMetrics(): void {
    const r = this.registry;
    const n = this.counters;
    gaugeOf(r, 'freight_push_agents_connected', 'Agents with a live stream on this replica.', () => [...this.conns].filter((c) => c.live).length);
    gaugeOf(r, 'freight_push_revision', 'Newest change-log revision this replica has pushed.', () => this.cursor);
    counterOf(r, 'freight_push_deltas_total', 'Delta messages sent.', () => n.deltas);
    counterOf(r, 'freight_push_snapshots_total', 'Snapshot messages sent.', () => n.snapshots);
    counterOf(r, 'freight_push_bytes_sent_total', 'Bytes sent to agents.', () => [...this.conns].reduce((b, c) => b + c.bytesSent, n.bytes));
    counterOf(r, 'freight_push_db_errors_total', 'Change-log reads that failed.', () => n.errors);
    counterOf(r, 'freight_push_batches_total', 'Change-log batches fanned out.', () => n.batches);
    counterOf(r, 'freight_push_fanout_seconds_total', 'Time spent computing and queueing deltas.', () => n.fanoutMs / 1000);
    counterOf(r, 'freight_push_overflow_drops_total', 'Streams dropped past the send high-water mark.', () => n.overflows);
    counterOf(r, 'freight_push_revoked_closes_total', 'Streams closed because their token was revoked.', () => n.revoked);
    counterOf(r, 'freight_push_ack_timeouts_total', 'Times an agent did not acknowledge within the ack timeout.', () => n.late);
    gaugeOf(r, 'freight_push_buffered_bytes', 'Bytes queued in the agents\' sockets.', () => [...this.conns].reduce((b, c) => b + c.ws.bufferedAmount, 0));
  }

  /** Commit→ack time of every batch this agent's ack covers (from the change log's commit time). */
  private observeAck(before: number, revision: number): void {
    const now = Date.now();
    for (const [rev, at] of this.commits) {
      if (rev > before && rev <= revision) this.commitToAck.observe(Math.max(0, now - at) / 1000);
    }
  }

  connected(): string[] {
    return [...this.byNode].filter(([, c]) => !c.ended).map(([n]) => n);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    for (const c of this.conns) c.ws.terminate();
    await this.serial.run(async () => {});
  }
}

/** Serialised op values, shared by every session of one batch (endpoint and container values are shared objects). */
type OpJson = WeakMap<object, string>;

function opJson(op: ViewOp, cache: OpJson): string {
  const head = `{"kind":"${op.kind}","id":${JSON.stringify(op.id)}`;
  if (op.value === undefined) return `${head}}`;
  let v = cache.get(op.value);
  if (v === undefined) cache.set(op.value, (v = JSON.stringify(op.value)));
  return `${head},"value":${v}}`;
}

/** Every difference between two views, as ops. */
export function fullOps(from: NodeView, to: NodeView): ViewOp[] {
  const ops: ViewOp[] = [];
  for (const kind of ['networks', 'endpoints', 'containers', 'keys'] as const) {
    const a = from[kind] as Record<string, unknown>;
    const b = to[kind] as Record<string, unknown>;
    for (const id of Object.keys(a)) if (!(id in b)) ops.push({ kind, id } as ViewOp);
    for (const [id, v] of Object.entries(b)) {
      if (JSON.stringify(a[id]) !== JSON.stringify(v)) ops.push({ kind, id, value: v } as ViewOp);
    }
  }
  applyInPlace(from, ops);
  return ops;
}
