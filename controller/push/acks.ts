import { Histogram, LATENCY_BUCKETS, type Registry } from '../../lib/metrics.js';
import type { PushCore } from './core.js';
import { flushNodes, markDisconnected, markSilentNodes, type NodeMark } from './nodes.js';
import type { AgentConn } from './session.js';
import { silenceMs } from '../../protocol/stream.js';

/**
 * Ack bookkeeping: which revision each agent was sent and applied, liveness, the ack timeout;
 * written to the nodes table in one statement per flush, kept while the database is away.
 */
export class AckBook {
  /** Marks of connections that closed before their news was written. */
  private readonly leftovers = new Map<string, NodeMark>();
  /** Nodes whose stream closed since the last flush. */
  private readonly disconnected = new Set<string>();
  private flushFailing = false;
  /** Newest revision of each recent batch and its commit time (ms), for commit→ack; bounded. */
  private readonly commits: Array<[number, number]> = [];
  private readonly commitToAck: Histogram;

  constructor(
    private readonly core: PushCore,
    registry: Registry,
  ) {
    this.commitToAck = new Histogram({
      name: 'freight_push_commit_to_ack_seconds',
      help: "From a change's commit to an agent's ack of it (database clock to controller clock).",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  recordCommit(revision: number, at: number | undefined): void {
    if (at === undefined || !Number.isFinite(at)) return;
    this.commits.push([revision, at]);
    if (this.commits.length > 1024) this.commits.shift();
  }

  /** Commit→ack time of every batch this agent's ack covers (from the change log's commit time). */
  observeAck(c: AgentConn, revision: number): void {
    const now = Date.now();
    for (const [rev, at] of this.commits) {
      if (rev > c.applied && rev <= revision) this.commitToAck.observe(Math.max(0, now - at) / 1000);
    }
  }

  /**
   * A connection closed: keep its last acks for the next flush. When it was the node's stream,
   * the node is NotReady at that flush rather than after the silence timeout (heartbeats × missed,
   * 15 s by default): an agent that died closes its TCP connection, and consoles and schedulers
   * should know within a second. Done in the flush, after its acks are written, so a flush already
   * under way cannot make the node ready again; the leftover mark no longer counts as "seen". An
   * agent that reconnects (here or to another replica) is ready again at the flush after its hello;
   * the silence check stays the backstop for streams that hang without closing.
   */
  closed(c: AgentConn, nodeStreamEnded = false): void {
    if (c.node && c.dirty) this.leftovers.set(c.node, nodeStreamEnded ? { ...mark(c), seen: false } : mark(c));
    if (c.node && nodeStreamEnded) this.disconnected.add(c.node);
  }

  /**
   * Heartbeat tick of one slice of the connections (`slot % slices === slice`): ping live agents
   * with the cursor, drop silent connections, apply the ack timeout. Each connection is visited
   * once per interval either way; slices keep a tick from writing to thousands of sockets at once
   * (at 500 agents that is 25 ms of a blocked event loop, and of every change waiting behind it).
   */
  heartbeat(slice = 0, slices = 1): void {
    const { opts, log, counters } = this.core;
    const cursor = this.core.model.cursor;
    const fanning = this.core.fanning;
    const now = opts.clock.now();
    for (const c of this.core.conns) {
      if (c.slot % slices !== slice) continue;
      if (now - c.lastMessageAt > silenceMs(opts.heartbeatMs, c.peerEvery, opts.missedHeartbeats)) {
        log.warn({ node: c.node ?? c.tokenNode }, 'agent silent: closing its stream');
        c.ws.terminate();
        continue;
      }
      if (!c.live) continue;
      // the cursor may be ahead of a connection a fan-out has not reached yet (it yields between
      // chunks, catch-up.ts): such a ping must not announce what that connection was not sent
      if (!c.send({ type: 'ping', revision: fanning ? c.position : cursor, t: now, every: opts.heartbeatMs })) continue;
      // the agent adopts the ping's revision once it applied what came before
      if (!fanning && cursor > c.position) {
        c.position = cursor;
        c.desired = cursor;
        c.dirty = true;
      }
      c.checkpoint(now);
      // not acknowledging in time makes the node NotReady (written by the next flush)
      if (c.lateBy(now, opts.ackTimeoutMs)) {
        if (!c.late) {
          c.late = true;
          counters.late++;
          log.warn({ node: c.node, applied: c.applied, desired: c.desired }, 'node NotReady: no ack within the ack timeout');
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
    const { db, log, opts, conns, byNode } = this.core;
    const marks = new Map(this.leftovers);
    for (const c of conns) {
      if (c.live && c.node && c.dirty) marks.set(c.node, mark(c));
    }
    const taken = [...conns].filter((c) => c.live && c.dirty);
    for (const c of taken) c.dirty = c.seen = false;
    try {
      const became = await flushNodes(db, [...marks.values()]);
      this.flushFailing = false;
      this.leftovers.clear();
      for (const node of became) {
        log.info({ node }, 'node ready');
        await this.core.onNodeReady?.(node).catch((err) => log.warn({ node, err }, 'onNodeReady failed'));
      }
      for (const node of [...this.disconnected]) {
        this.disconnected.delete(node);
        if (byNode.has(node)) continue; // back already
        if (await markDisconnected(db, node)) log.warn({ node }, 'node NotReady: its stream closed');
      }
      if (checkSilent) {
        for (const node of await markSilentNodes(db, opts.heartbeatMs * opts.missedHeartbeats)) {
          log.warn({ node }, 'node NotReady: silent');
        }
      }
    } catch (err) {
      // the database is away: keep the news for the next flush, mark nobody NotReady
      for (const c of taken) c.dirty = true;
      for (const [k, v] of marks) if (!byNode.has(k)) this.leftovers.set(k, v);
      for (const c of taken) if (c.node && marks.get(c.node)?.seen) c.seen = true;
      if (!this.flushFailing) log.warn({ err }, 'push flush: database unavailable, retrying');
      this.flushFailing = true;
    }
  }
}

function mark(c: AgentConn): NodeMark {
  return { name: c.node!, tokenId: c.tokenId, seen: c.seen && !c.ended, late: c.late, applied: c.applied, desired: c.desired };
}
