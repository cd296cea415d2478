import { performance } from 'node:perf_hooks';
import { applyRefresh } from '../view/apply.js';
import { compileView, type FloodMemo } from '../view/compile.js';
import { fullOps, heldOf, heldView, liveOps, type ChangeRow } from '../view/diff.js';
import { loadRefresh, logBounds, readChanges } from '../view/load.js';
import { validTokens } from './auth.js';
import type { PushCore } from './core.js';
import { ClusterModel } from './model.js';
import { isRevoked, revokedIn } from './revoke.js';
import { newOpJson, sendDelta } from './wire.js';
import type { FannedOut } from './pacing.js';
import type { AgentConn } from './session.js';

const BATCH_ROWS = 5000;

/** Inside the queue: reads change rows in batches, refreshes the model, sends deltas. */
export async function catchUpNow(core: PushCore): Promise<FannedOut> {
  const { db, model } = core;
  const out = { rows: 0, ms: 0 };
  for (;;) {
    const rows = await readChanges(db, model.cursor, undefined, BATCH_ROWS);
    if (rows.length === 0) return out;
    core.counters.catchUps++;
    if (model.cursor > 0 && rows[0].revision > model.cursor + 1 && (await logBounds(db)).oldest === rows[0].revision) {
      // the log was pruned past our cursor: rebuild the model and diff every view fully
      await reload(core);
      continue;
    }
    // revocations first: a revoked stream gets nothing of this batch (nor of anything later)
    closeRevoked(core, rows);
    const fx = applyRefresh(model.state, await loadRefresh(db, rows, core.keys));
    const revision = rows[rows.length - 1].revision;
    const memo: FloodMemo = new Map();
    const json = newOpJson();
    const t0 = performance.now();
    model.cursor = revision;
    // a batch that touched no view item (a node turning ready, a token created) sends nothing: with
    // thousands of agents saying hello, each hello's row would otherwise visit every connection
    const touched = fx.endpoints.size + fx.containers.size + fx.networks.size + fx.keys.size > 0;
    if (touched) {
      await fanOut(core, (c) => sendDelta(c, liveOps(model.state, c.nodeId!, fx, c.sent, memo), revision, core.counters, json));
      out.rows += rows.length;
      out.ms += performance.now() - t0;
    }
    core.counters.fanoutMs += performance.now() - t0;
    core.counters.batches++;
    core.recordCommit(revision, rows[rows.length - 1].at);
    if (rows.length < BATCH_ROWS) return out;
  }
}

/**
 * Sends to every live connection. A fan-out to thousands of sockets would hold this event loop
 * for tens of milliseconds, and the API's transactions with it: it yields to I/O after every
 * `opts.fanoutChunk` connections. Meanwhile heartbeats ping with each connection's own position
 * (core.fanning, acks.ts).
 */
async function fanOut(core: PushCore, send: (c: AgentConn) => void): Promise<void> {
  core.fanning = true;
  try {
    let k = 0;
    for (const c of core.conns) {
      if (!c.live || !c.nodeId) continue;
      send(c);
      if (++k % core.opts.fanoutChunk === 0) await new Promise(setImmediate);
    }
  } finally {
    core.fanning = false;
  }
}

async function reload(core: PushCore): Promise<void> {
  const loaded = await ClusterModel.load(core.db, core.keys);
  // the pruned rows may have held revocations
  await recheckTokensNow(core);
  // no await from here on: a heartbeat must never announce the new cursor before the deltas
  const { model } = core;
  const old = model.state; // what every live agent holds the endpoints of
  model.adopt(loaded);
  for (const c of core.conns) {
    if (!c.live || !c.node) continue;
    c.nodeId = model.state.nodeIdByName.get(c.node);
    const next = compileView(model.state, c.node, model.cursor);
    sendDelta(c, fullOps(heldView(old, c.sent, c.node, next.underlayIp, next.revision), next), model.cursor, core.counters);
    c.sent = heldOf(next);
  }
}

/** Revoked tokens and deleted nodes among change rows: their streams close before anything else is sent. */
function closeRevoked(core: PushCore, rows: ChangeRow[]): void {
  const r = revokedIn(rows);
  if (r.tokens.size === 0 && r.nodes.size === 0) return;
  for (const c of core.conns) if (!c.ended && isRevoked(r, c.tokenId, c.nodeId)) core.revoke(c, 'token revoked or node deleted');
}

/** Inside the queue, the backstop of revocation: closes the streams whose token is no longer valid (or whose node is gone). */
export async function recheckTokensNow(core: PushCore): Promise<void> {
  const open = [...core.conns].filter((c) => !c.ended);
  if (open.length === 0) return;
  const valid = await validTokens(core.db, [...new Set(open.map((c) => c.tokenId))]);
  for (const c of open) if (!c.ended && !valid.has(c.tokenId)) core.revoke(c, 'token no longer valid (periodic check)');
}
