import { compactDeltaJson, compactOpJson, compactValueJson } from '../../protocol/compact-ops.js';
import type { NodeView, ViewOp } from '../../protocol/view.js';
import type { Counters } from './core.js';
import type { AgentConn } from './session.js';

/**
 * Serialised ops, shared by every session of one batch (endpoint and container values are shared
 * objects): a fan-out to N agents encodes each op once, not N times.
 */
export interface OpJson {
  plain: WeakMap<object, string>;
  /** whole ops1 ops by value, with the op kind and id they were made for */
  compact: WeakMap<object, { kind: string; id: string; json: string }>;
  /** ops1 removals by kind and id */
  removals: Map<string, string>;
}
export const newOpJson = (): OpJson => ({ plain: new WeakMap(), compact: new WeakMap(), removals: new Map() });

function valueJson(value: object, cache: OpJson): string {
  let v = cache.plain.get(value);
  if (v === undefined) cache.plain.set(value, (v = JSON.stringify(value)));
  return v;
}

function opJson(op: ViewOp, cache: OpJson): string {
  const head = `{"kind":"${op.kind}","id":${JSON.stringify(op.id)}`;
  if (op.value === undefined) return `${head}}`;
  return `${head},"value":${valueJson(op.value, cache)}}`;
}

const noValue = () => '';

function compactJson(op: ViewOp, cache: OpJson): string {
  const value = op.value;
  if (value === undefined) {
    const key = `${op.kind}\0${op.id}`;
    let j = cache.removals.get(key);
    if (j === undefined) cache.removals.set(key, (j = compactOpJson(op, noValue, noValue)));
    return j;
  }
  const hit = cache.compact.get(value);
  if (hit?.id === op.id && hit.kind === op.kind) return hit.json;
  const json = compactOpJson(
    op,
    () => valueJson(value, cache),
    () => compactValueJson(op),
  );
  cache.compact.set(value, { kind: op.kind, id: op.id, json });
  return json;
}

/**
 * `"id":{…}` of node-independent view items (endpoints, containers, keyed by their own id), kept
 * as long as the item lives: items are never changed (a changed endpoint is a new object), so a
 * string stays right. A snapshot of a network with 5,000 endpoints is then 5,000 lookups and one
 * join, not a JSON.stringify of 2 MB per agent.
 */
const entryJson = new WeakMap<object, string>();

function tableJson(table: Record<string, { id: string }>, shared: boolean): string {
  const parts: string[] = [];
  for (const id in table) {
    const v = table[id];
    const cached = shared && v.id === id;
    let j = cached ? entryJson.get(v) : undefined;
    if (j === undefined) {
      j = `${JSON.stringify(id)}:${JSON.stringify(v)}`;
      if (cached) entryJson.set(v, j);
    }
    parts.push(j);
  }
  return `{${parts.join(',')}}`;
}

/** `snapshot {revision, view}`, as JSON.stringify would write it (shared items' JSON reused). */
export function snapshotJson(view: NodeView, revision: number): string {
  const head = JSON.stringify({ node: view.node, underlayIp: view.underlayIp, revision: view.revision });
  const body =
    `"networks":${tableJson(view.networks, false)},"endpoints":${tableJson(view.endpoints, true)},` +
    `"containers":${tableJson(view.containers, true)},"keys":${tableJson(view.keys, false)}`;
  return `{"type":"snapshot","revision":${revision},"view":${head.slice(0, -1)},${body}}}`;
}

/** Sends `delta {from: position, revision, ops}` (nothing when there are no ops) and moves the connection's position. */
export function sendDelta(c: AgentConn, ops: ViewOp[], revision: number, counters: Counters, json: OpJson = newOpJson()): void {
  if (ops.length === 0) return;
  c.sendText(
    c.compact
      ? compactDeltaJson(
          c.position,
          revision,
          ops.map((op) => compactJson(op, json)),
        )
      : `{"type":"delta","from":${c.position},"revision":${revision},"ops":[${ops.map((op) => opJson(op, json)).join(',')}]}`,
  );
  c.position = revision;
  c.desired = revision;
  c.dirty = true;
  counters.deltas++;
}
