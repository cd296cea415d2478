import { HEARTBEAT_MS, MISSED_HEARTBEATS } from '../../protocol/stream.js';

export interface Clock {
  now(): number;
}

export interface PushOptions {
  /** Heartbeat interval both ways (ms). */
  heartbeatMs?: number;
  /** Silent for this many heartbeats → the connection is dropped and the node NotReady. */
  missedHeartbeats?: number;
  /** How often acks, last_seen and readiness go to the nodes table (one UPDATE each time). */
  flushMs?: number;
  /** Change-log retention: keep the newest `rows` rows, and any row younger than `ms`. */
  retention?: { rows: number; ms: number };
  pruneEveryMs?: number;
  logsTimeoutMs?: number;
  /** A resume needing more change-log rows than this gets a snapshot. */
  maxResumeRows?: number;
  /**
   * Backpressure: a connection whose unsent bytes (ws.bufferedAmount) exceed this (plus the size of
   * its snapshot, which may still be in the buffer) is dropped; its next hello gets a snapshot.
   */
  highWaterBytes?: number;
  /** A node that has not acknowledged a revision sent this long ago is NotReady (until it acks). */
  ackTimeoutMs?: number;
  /** Backstop of revocation: how often each replica re-checks the tokens of its open streams. */
  tokenCheckMs?: number;
  /**
   * Burst coalescing: after the fan-out of a bulk change (many change rows at once, as in a burst
   * of creates), the next fan-out waits four times as long as that one took, at most this long,
   * so it carries all that committed meanwhile in one delta per agent. A change after a quiet
   * moment goes out at once. 0: never wait.
   */
  coalesceMs?: number;
  /**
   * A fan-out yields to I/O after this many connections (about 1.6 ms of socket writes at 64 on
   * the development machine): the API sharing the event loop waits at most that long for it.
   */
  fanoutChunk?: number;
  clock?: Clock;
}

export type ResolvedOptions = Required<PushOptions>;

export function resolveOptions(o: PushOptions = {}): ResolvedOptions {
  const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
  return {
    heartbeatMs,
    missedHeartbeats: o.missedHeartbeats ?? MISSED_HEARTBEATS,
    flushMs: o.flushMs ?? Math.min(250, heartbeatMs),
    retention: o.retention ?? { rows: 100_000, ms: 3_600_000 },
    pruneEveryMs: o.pruneEveryMs ?? 60_000,
    logsTimeoutMs: o.logsTimeoutMs ?? 5000,
    maxResumeRows: o.maxResumeRows ?? 50_000,
    highWaterBytes: o.highWaterBytes ?? 8 * 1024 * 1024,
    ackTimeoutMs: o.ackTimeoutMs ?? 60_000,
    tokenCheckMs: o.tokenCheckMs ?? 5000,
    coalesceMs: o.coalesceMs ?? 250,
    fanoutChunk: o.fanoutChunk ?? 64,
    clock: o.clock ?? { now: () => Date.now() },
  };
}
