import type { ViewOp } from '../../protocol/view.js';
import type { Counters } from './core.js';
import type { AgentConn } from './session.js';

/** Serialised op values, shared by every session of one batch (endpoint and container values are shared objects). */
export type OpJson = WeakMap<object, string>;

function opJson(op: ViewOp, cache: OpJson): string {
  const head = `{"kind":"${op.kind}","id":${JSON.stringify(op.id)}`;
  if (op.value === undefined) return `${head}}`;
  let v = cache.get(op.value);
  if (v === undefined) cache.set(op.value, (v = JSON.stringify(op.value)));
  return `${head},"value":${v}}`;
}

/** Sends `delta {from: position, revision, ops}` (nothing when there are no ops) and moves the connection's position. */
export function sendDelta(c: AgentConn, ops: ViewOp[], revision: number, counters: Counters, json: OpJson = new WeakMap()): void {
  if (ops.length === 0) return;
  c.sendText(`{"type":"delta","from":${c.position},"revision":${revision},"ops":[${ops.map((op) => opJson(op, json)).join(',')}]}`);
  c.position = revision;
  c.desired = revision;
  c.dirty = true;
  counters.deltas++;
}
