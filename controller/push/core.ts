import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { KeyAccess } from '../view/load.js';
import type { ResolvedOptions } from './options.js';
import type { ClusterModel } from './model.js';
import type { Serial } from '../../lib/serial.js';
import type { AgentConn } from './session.js';
import type { ChangeRow } from '../view/diff.js';
import type { FloodMemo } from '../view/compile.js';

export const newCounters = () => ({
  deltas: 0,
  snapshots: 0,
  bytes: 0,
  catchUps: 0,
  errors: 0,
  batches: 0,
  fanoutMs: 0,
  overflows: 0,
  revoked: 0,
  late: 0,
  /** change-log reads made to answer hellos (hellos at revisions already read share one) */
  resumeReads: 0,
});
export type Counters = ReturnType<typeof newCounters>;

/**
 * The change rows `(from, cursor]` last read to answer a hello, kept while the model stays at
 * `cursor`. Agents that lost the same replica come back at the same few revisions: a storm of
 * hellos reads the log once, not once per agent. The rows are complete for `(from, cursor]` (read
 * after the bounds said the log still held them, and never changed since), so any later pruning
 * cannot make a suffix of them wrong.
 */
export interface ResumeRows {
  cursor: number;
  from: number;
  rows: ChangeRow[];
}

/**
 * What the hub's parts share: the model, the connections, the one serial queue through which
 * every change of the model and every delta goes (so deltas leave in revision order).
 */
export interface PushCore {
  readonly db: Db;
  readonly log: Logger;
  readonly opts: ResolvedOptions;
  /** Opens sealed ipsec keys; null on a plaintext controller: views then carry no key. */
  readonly keys: KeyAccess;
  readonly model: ClusterModel;
  readonly conns: Set<AgentConn>;
  /** The live connection of each node (the newest hello wins). */
  readonly byNode: Map<string, AgentConn>;
  readonly serial: Serial;
  readonly counters: Counters;
  /** Nodes whose connection was dropped past the high-water mark: their next hello here gets a snapshot. */
  readonly resyncNodes: Set<string>;
  /** The change rows the last resume read (resume-rows.ts). */
  resumeCache?: ResumeRows;
  /** A fan-out is under way (it yields between chunks): the model's cursor is ahead of some connections. */
  fanning?: boolean;
  /** Flood lists at `cursor` for the hellos answered there (controller/push/handshake.ts). */
  floodMemo?: { cursor: number; memo: FloodMemo };
  readonly onNodeReady?: (node: string) => Promise<void>;
  /** Closes a revoked stream (counted and logged). */
  revoke(c: AgentConn, why: string): void;
  /** A batch up to `revision` committed at `at` (ms, database clock) was fanned out: for commit→ack. */
  recordCommit(revision: number, at: number | undefined): void;
  /** An agent acknowledged `revision` (before its ack is recorded on the connection). */
  observeAck(c: AgentConn, revision: number): void;
}
