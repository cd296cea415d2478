import type { WebSocket } from 'ws';
import type { ControllerMessage, NetworkError } from '../../protocol/stream.js';
import { emptyHeld, type HeldView } from '../view/diff.js';
import { PushError } from './errors.js';
import type { ExecRelaySink } from './exec-sink.js';

/** A question to the agent waiting for its answer (logs, packages), by request id. */
interface PendingLogs {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** Checkpoints of unacknowledged revisions kept per connection (one per heartbeat at most). */
const MAX_CHECKPOINTS = 64;
let connections = 0;

/** The controller's side of one agent connection. */
export class AgentConn {
  /** Set by hello; until then the connection gets no deltas or pings. */
  node?: string;
  nodeId?: string;
  live = false;
  /** A valid hello arrived (it may still be being answered). */
  helloSeen = false;
  /** The agent reads deltas in the compact encoding (protocol/compact-ops.ts), from its hello. */
  compact = false;
  /** The agent answers infra-counters requests (its hello's `requests`). */
  infraCounters = false;
  /** Revoked, overflowed or failed: nothing more is sent or accepted. */
  ended = false;
  /** Past the ack timeout (NotReady until it acks). */
  late = false;
  /** What the agent holds once it applied everything sent, endpoints aside (the base of live diffs; HeldView). */
  sent: HeldView = emptyHeld();
  /** The revision the agent will be at after everything sent: the `from` of the next delta. */
  position = 0;
  /** Last revision sent (delta, snapshot or ping) and last acknowledged. */
  desired = 0;
  applied = 0;
  lastMessageAt: number;
  /** The agent's heartbeat interval, from its pings (its silence is judged on it). */
  peerEvery?: number;
  /** News for the nodes table since the last flush. */
  seen = false;
  dirty = false;
  bytesSent = 0;
  /** Size of the snapshot just sent: until the buffer drains below the mark it may sit on top of it. */
  snapshotBytes = 0;
  /** [revision, time] sent and not yet acknowledged, oldest first (the ack timeout). */
  private unacked: Array<[number, number]> = [];
  networkErrors: NetworkError[] = [];
  readonly logs = new Map<string, PendingLogs>();
  /** Execs running through this connection, by exec id. */
  readonly execs = new Map<string, ExecRelaySink>();
  /** Spreads heartbeat work over the interval: the tick of slice `slot % slices` handles it (acks.ts). */
  readonly slot = connections++;

  constructor(
    readonly ws: WebSocket,
    readonly tokenNode: string,
    readonly tokenId: string,
    now: number,
    private readonly highWaterBytes: number,
    private readonly onOverflow: (c: AgentConn) => void,
  ) {
    this.lastMessageAt = now;
  }

  send(msg: ControllerMessage): boolean {
    return this.sendText(JSON.stringify(msg));
  }

  /**
   * Sends already-serialised JSON (deltas are assembled from per-op strings shared by all sessions).
   * Past the high-water mark the connection is dropped instead (its queue goes with it).
   */
  sendText(text: string): boolean {
    if (this.ended || this.ws.readyState !== this.ws.OPEN) return false;
    const buffered = this.ws.bufferedAmount;
    // below the mark the snapshot has left the buffer: no more allowance for it
    if (buffered <= this.highWaterBytes) this.snapshotBytes = 0;
    if (buffered > this.highWaterBytes + this.snapshotBytes) {
      this.end();
      this.ws.terminate();
      this.onOverflow(this);
      return false;
    }
    this.bytesSent += Buffer.byteLength(text);
    this.ws.send(text);
    return true;
  }

  /** Nothing more goes out or comes in on this connection. */
  end(): void {
    this.ended = true;
    this.live = false;
    this.seen = false;
  }

  /**
   * Closes at once, sending nothing more: buffered data is discarded (terminate) when there is
   * any, else a close frame says why. Used on revocation.
   */
  kill(code: number, reason: string): void {
    this.end();
    if (this.ws.bufferedAmount > 0 || this.ws.readyState !== this.ws.OPEN) return void this.ws.terminate();
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), 1000).unref();
  }

  /** Sends an error and closes: used for anything the agent did wrong. */
  fail(code: string, message: string): void {
    this.send({ type: 'error', code, message });
    this.end();
    this.ws.close(1008, code.slice(0, 100));
  }

  heard(now: number): void {
    this.lastMessageAt = now;
    this.seen = true;
    this.dirty = true;
  }

  /** Heartbeat: remembers when the revision the agent should reach now was first expected. */
  checkpoint(now: number): void {
    const last = this.unacked[this.unacked.length - 1];
    if (this.desired > this.applied && (!last || last[0] < this.desired) && this.unacked.length < MAX_CHECKPOINTS) {
      this.unacked.push([this.desired, now]);
    }
  }

  acked(revision: number): void {
    if (revision > this.applied) this.applied = revision;
    while (this.unacked.length > 0 && this.unacked[0][0] <= this.applied) this.unacked.shift();
  }

  /** A revision sent more than `ms` ago is still not acknowledged. */
  lateBy(now: number, ms: number): boolean {
    return this.unacked.length > 0 && now - this.unacked[0][1] > ms;
  }

  dropLogs(): void {
    for (const p of this.logs.values()) {
      clearTimeout(p.timer);
      p.reject(new PushError('node_unavailable', `logs from node ${this.node}: connection closed`));
    }
    this.logs.clear();
  }
}
