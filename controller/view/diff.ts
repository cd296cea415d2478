import { createHash } from 'node:crypto';
import type { NodeView, ViewNetwork, ViewOp } from '../../protocol/view.js';
import type { Effects } from './apply.js';
import { isDeepStrictEqual } from 'node:util';
import { containerFor, endpointFor, keyFor, networkFor, type FloodMemo } from './compile.js';
import { routedSiblings, type ClusterState } from './state.js';

/**
 * The one equality rule for view items: the same value. Identity first (the compiler memoises
 * unchanged endpoints and containers, so that is the common case), then deep equality, which
 * holds for every field a view item has or gains, in any key order.
 */
export function sameItem(a: unknown, b: unknown): boolean {
  return a === b || (a !== undefined && b !== undefined && isDeepStrictEqual(a, b));
}

/** One change_log row, as the push reads it. */
export interface ChangeRow {
  revision: number;
  kind: string;
  objectId: string;
  op: 'insert' | 'update' | 'delete';
  networkId: string | null;
  nodeIds: string[];
  /** Commit time (ms since the epoch, the database's clock), for the commit→ack histogram. */
  at?: number;
}

/**
 * What a connection keeps of what its agent holds, so that its memory does not grow with the
 * size of the networks its node hosts:
 * - endpoints: nothing. Endpoint items are node-independent, and after every batch each live
 *   agent holds the compiled view at the model's cursor, so it holds an endpoint exactly when the
 *   endpoint's network is in its `networks`, and then the model's item of the previous batch;
 * - networks: a digest of each item (its flood list names every other host of the network, and
 *   differs per node, so the item itself is O(hosts) per connection);
 * - containers (its own) and keys (its pairs): the items.
 */
export interface HeldView {
  networks: Record<string, string>;
  containers: NodeView['containers'];
  keys: NodeView['keys'];
}

/** Equal digests ⇔ equal items (networkFor builds every item with its keys in one order). */
export function networkDigest(n: ViewNetwork): string {
  return createHash('sha1').update(JSON.stringify(n)).digest('base64');
}

export function heldOf(v: NodeView): HeldView {
  const networks: Record<string, string> = {};
  for (const [id, n] of Object.entries(v.networks)) networks[id] = networkDigest(n);
  return { networks, containers: v.containers, keys: v.keys };
}
export const emptyHeld = (): HeldView => ({ networks: {}, containers: {}, keys: {} });

/** The endpoint item the agent holds before this batch (see HeldView). */
function heldEndpoint(state: ClusterState, fx: Effects, held: HeldView, id: string) {
  const prev = fx.prevEndpoints.has(id) ? fx.prevEndpoints.get(id) : state.viewEndpoints.get(id);
  return prev !== undefined && held.networks[prev.network] !== undefined ? prev : undefined;
}

/**
 * The view an agent holds, for a full diff against a rebuilt model: endpoints from `state` (the
 * model it was brought to), and each network it holds as a placeholder that equals no item, so
 * every network of the new view is sent again and every other one removed.
 */
export function heldView(state: ClusterState, held: HeldView, node: string, underlayIp: string, revision: number): NodeView {
  const endpoints: NodeView['endpoints'] = {};
  const networks: NodeView['networks'] = {};
  for (const netId of Object.keys(held.networks)) {
    networks[netId] = { id: netId } as ViewNetwork;
    for (const id of state.epsByNetwork.get(netId) ?? []) {
      const ep = state.viewEndpoints.get(id);
      if (ep) endpoints[id] = ep;
    }
  }
  return { node, underlayIp, revision, networks, endpoints, containers: { ...held.containers }, keys: { ...held.keys } };
}

/**
 * The ops that bring the agent (`held`: what it holds once it applied everything sent, at
 * the model's previous batch) to the current state for the touched items only; `held` is
 * updated in place. Cost is proportional to what the refresh touched, not to the view's
 * size, except where a network appears on or leaves this node.
 */
export function liveOps(state: ClusterState, nodeId: string, fx: Effects, held: HeldView, memo?: FloodMemo): ViewOp[] {
  const ops: ViewOp[] = [];
  const epIds = new Set(fx.endpoints);
  const keyIds = new Set(fx.keys);
  // applied after the endpoints: those are judged on the networks the agent held before
  const digests = new Map<string, string | undefined>();
  for (const netId of fx.networks) {
    const cur = networkFor(state, nodeId, netId, memo);
    const digest = cur && networkDigest(cur);
    if (digest !== held.networks[netId]) {
      ops.push({ kind: 'networks', id: netId, value: cur });
      digests.set(netId, digest);
    }
    if (!fx.presenceChanged.get(netId)?.has(nodeId)) continue;
    // the network appeared on or left this node: all its items are touched, those that left it in this batch too
    for (const id of state.epsByNetwork.get(netId) ?? []) epIds.add(id);
    for (const id of state.keysByNetwork.get(netId) ?? []) keyIds.add(id);
    for (const [id, prev] of fx.prevEndpoints) if (prev?.network === netId) epIds.add(id);
    for (const k of Object.values(held.keys)) if (k.network === netId) keyIds.add(k.id);
  }
  for (const id of epIds) {
    const cur = endpointFor(state, nodeId, id);
    if (!sameItem(cur, heldEndpoint(state, fx, held, id))) ops.push({ kind: 'endpoints', id, value: cur });
  }
  for (const id of fx.containers) {
    const cur = containerFor(state, nodeId, id);
    if (!sameItem(cur, held.containers[id])) ops.push({ kind: 'containers', id, value: cur });
  }
  for (const id of keyIds) {
    const cur = keyFor(state, nodeId, id);
    if (!sameItem(cur, held.keys[id])) ops.push({ kind: 'keys', id, value: cur });
  }
  for (const [id, digest] of digests) {
    if (digest === undefined) delete held.networks[id];
    else held.networks[id] = digest;
  }
  for (const op of ops) if (op.kind === 'containers' || op.kind === 'keys') applyOp(held[op.kind], op);
  return ops;
}

function applyOp(table: Record<string, unknown>, op: ViewOp): void {
  if (op.value === undefined) delete table[op.id];
  else table[op.id] = op.value;
}

export function applyInPlace(view: NodeView, ops: ViewOp[]): void {
  for (const op of ops) applyOp(view[op.kind], op);
}

/**
 * The ops for an agent that resumes at an older revision, from the change-log rows
 * after it, against the node's current view `cur`: every touched item is upserted
 * when present in `cur`, and removed when the agent may hold it. A network one of
 * whose endpoints was or is on this node may have appeared or left: all its items
 * are touched. Nothing of a network the node neither hosts nor hosted is sent.
 */
/** An endpoint of `cur` (compiled with or without its endpoints, compileView): it is there iff its network is. */
function endpointIn(state: ClusterState, nodeId: string, cur: NodeView, id: string) {
  const ep = state.endpoints.get(id);
  return cur.endpoints[id] ?? (ep && cur.networks[ep.networkId] !== undefined ? endpointFor(state, nodeId, id) : undefined);
}

export function resumeOps(state: ClusterState, nodeId: string, rows: ChangeRow[], cur: NodeView): ViewOp[] {
  const expand = new Set<string>();
  for (const r of rows) {
    if (!r.networkId || !r.nodeIds.includes(nodeId)) continue;
    // an endpoint here, or a router attach/detach naming this node (schema.sql log_network_router)
    if (r.kind === 'endpoints') for (const id of routedSiblings(state, r.networkId)) expand.add(id);
    if (r.kind === 'networks') expand.add(r.networkId);
  }
  const mayHold = (netId: string | null) => netId !== null && (expand.has(netId) || cur.networks[netId] !== undefined);
  const t = { networks: new Set<string>(), endpoints: new Set<string>(), containers: new Set<string>(), keys: new Set<string>() };
  for (const r of rows) {
    const mine = r.nodeIds.includes(nodeId);
    if (r.kind === 'endpoints' && mayHold(r.networkId)) t.endpoints.add(r.objectId);
    else if (r.kind === 'containers' && mine) t.containers.add(r.objectId);
    else if (r.kind === 'ipsec_keys' && mine) t.keys.add(r.objectId);
    else if (r.kind === 'networks' && mayHold(r.objectId)) t.networks.add(r.objectId);
    else if (r.kind === 'nodes') touchNode(state, r.objectId, nodeId, mayHold, t);
    // a tenant's repositories are inside its RPM containers' items: re-send those this node runs
    else if (r.kind === 'image_repositories') for (const c of Object.values(cur.containers)) if (c.imageSource) t.containers.add(c.id);
    if (r.networkId && mayHold(r.networkId)) t.networks.add(r.networkId);
  }
  for (const netId of expand) {
    t.networks.add(netId);
    for (const id of state.epsByNetwork.get(netId) ?? []) t.endpoints.add(id);
    for (const id of state.keysByNetwork.get(netId) ?? []) t.keys.add(id);
  }
  const ops: ViewOp[] = [];
  for (const id of t.networks) ops.push({ kind: 'networks', id, value: cur.networks[id] });
  for (const id of t.endpoints) ops.push({ kind: 'endpoints', id, value: endpointIn(state, nodeId, cur, id) });
  for (const id of t.containers) ops.push({ kind: 'containers', id, value: cur.containers[id] });
  for (const id of t.keys) ops.push({ kind: 'keys', id, value: cur.keys[id] });
  return ops;
}

/** A node's underlay changed: its endpoints (vtep), their networks (flood, mtu), its keys. */
function touchNode(
  state: ClusterState,
  changed: string,
  self: string,
  mayHold: (netId: string | null) => boolean,
  t: { networks: Set<string>; endpoints: Set<string>; keys: Set<string> },
): void {
  for (const id of state.epsByNode.get(changed) ?? []) if (mayHold(state.endpoints.get(id)?.networkId ?? null)) t.endpoints.add(id);
  for (const id of state.netsByNode.get(changed) ?? []) if (mayHold(id)) t.networks.add(id);
  for (const id of state.keysByNode.get(changed) ?? []) {
    const k = state.keys.get(id);
    if (k && (k.nodeA === self || k.nodeB === self)) t.keys.add(id);
  }
}

/** Every difference between two views, as ops (a rebuilt model against what an agent holds); `from` is updated in place. */
export function fullOps(from: NodeView, to: NodeView): ViewOp[] {
  const ops: ViewOp[] = [];
  for (const kind of ['networks', 'endpoints', 'containers', 'keys'] as const) {
    const a = from[kind] as Record<string, unknown>;
    const b = to[kind] as Record<string, unknown>;
    for (const id of Object.keys(a)) if (!(id in b)) ops.push({ kind, id });
    for (const [id, v] of Object.entries(b)) {
      if (!sameItem(a[id], v)) ops.push({ kind, id, value: v } as ViewOp);
    }
  }
  applyInPlace(from, ops);
  return ops;
}
