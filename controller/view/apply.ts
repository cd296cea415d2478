import type { ViewContainer, ViewEndpoint } from '../../protocol/view.js';
import { imageSourceFor, isRpmImage } from './repos.js';
import {
  indexAdd,
  indexDel,
  routedSiblings,
  type ClusterState,
  type ContainerRow,
  type EndpointRow,
  type KeyRow,
  type NetworkRow,
  type NodeRow,
  type RepoRow,
} from './state.js';

/** What a refresh of the state may have changed, for the per-session diff. */
export interface Effects {
  endpoints: Set<string>;
  containers: Set<string>;
  networks: Set<string>;
  keys: Set<string>;
  /** network → nodes for which the network appeared or disappeared (they need all its items). */
  presenceChanged: Map<string, Set<string>>;
  /** Endpoint view items as they were before this refresh, for each one it replaced or removed (undefined: none). */
  prevEndpoints: Map<string, ViewEndpoint | undefined>;
}

export function emptyEffects(): Effects {
  return {
    endpoints: new Set(),
    containers: new Set(),
    networks: new Set(),
    keys: new Set(),
    presenceChanged: new Map(),
    prevEndpoints: new Map(),
  };
}

/** Fresh rows for touched ids; `null` = the row no longer exists. */
export interface Refresh {
  nodes?: Array<[string, NodeRow | null]>;
  networks?: Array<[string, NetworkRow | null]>;
  containers?: Array<[string, ContainerRow | null]>;
  endpoints?: Array<[string, EndpointRow | null]>;
  keys?: Array<[string, KeyRow | null]>;
  repos?: Array<[string, RepoRow | null]>;
}

/** Applies fresh rows to the state (nodes and networks first: endpoints refer to them). */
export function applyRefresh(state: ClusterState, r: Refresh): Effects {
  const fx = emptyEffects();
  for (const [id, row] of r.nodes ?? []) setNode(state, id, row, fx);
  for (const [id, row] of r.networks ?? []) setNetwork(state, id, row, fx);
  // before containers: a container's view item carries its tenant's repositories
  for (const [id, row] of r.repos ?? []) setRepo(state, id, row, fx);
  for (const [id, row] of r.containers ?? []) setContainer(state, id, row, fx);
  for (const [id, row] of r.endpoints ?? []) setEndpoint(state, id, row, fx);
  for (const [id, row] of r.keys ?? []) setKey(state, id, row, fx);
  return fx;
}

function sameEndpoint(a: ViewEndpoint, b: ViewEndpoint): boolean {
  return (
    a.id === b.id &&
    a.network === b.network &&
    a.kind === b.kind &&
    a.owner === b.owner &&
    a.name === b.name &&
    a.mac === b.mac &&
    a.ip === b.ip &&
    a.node === b.node &&
    a.vtep === b.vtep &&
    a.ifindex === b.ifindex &&
    a.plugged === b.plugged &&
    (a.groups === undefined) === (b.groups === undefined) &&
    (a.groups ?? []).join() === (b.groups ?? []).join()
  );
}

function endpointView(state: ClusterState, ep: EndpointRow): ViewEndpoint | undefined {
  const node = ep.nodeId ? state.nodes.get(ep.nodeId) : undefined;
  const ct = state.containers.get(ep.containerId);
  if (!node || !ct) return undefined;
  const infra = ct.kind === 'infra';
  return {
    id: ep.id,
    network: ep.networkId,
    kind: ct.kind,
    owner: ct.id,
    name: infra ? 'infra' : ct.name,
    mac: ep.mac,
    ip: ep.ip,
    node: node.name,
    vtep: node.underlayIp,
    ifindex: ep.ifindex,
    ...(ep.plugged ? { plugged: true } : {}),
    ...(ct.groups ? { groups: [...ct.groups] } : {}),
  };
}

/** Recomputes the cached view item; keeps the old object when equal so sessions see no change. */
function refreshEndpointView(state: ClusterState, id: string, fx: Effects): void {
  const row = state.endpoints.get(id);
  const next = row ? endpointView(state, row) : undefined;
  const prev = state.viewEndpoints.get(id);
  if (prev && next && sameEndpoint(prev, next)) return;
  if (!fx.prevEndpoints.has(id)) fx.prevEndpoints.set(id, prev);
  if (next) state.viewEndpoints.set(id, next);
  else state.viewEndpoints.delete(id);
  fx.endpoints.add(id);
}

export function containerView(state: ClusterState, c: ContainerRow): ViewContainer {
  const imageSource = imageSourceFor(state, c);
  return {
    id: c.id,
    tenant: c.tenant,
    name: c.name,
    kind: c.kind,
    image: c.image,
    command: [...c.command],
    boot: c.boot,
    restart: c.restart,
    desired: c.desired,
    generation: c.generation,
    limits: { memory: c.memory, cpus: c.cpuMillis === null ? null : c.cpuMillis / 1000, pids: c.pids },
    ...(imageSource ? { imageSource } : {}),
    ...(c.publish.length > 0 ? { publish: c.publish.map((p) => ({ ...p })) } : {}),
    ...(c.securityGroups ? { securityGroups: c.securityGroups } : {}),
    ...(c.floatingIps?.length ? { floatingIps: c.floatingIps.map((f) => ({ ...f })) } : {}),
  };
}

function addFlip(fx: Effects, networkId: string, nodeId: string): void {
  indexAdd(fx.presenceChanged, networkId, nodeId);
  fx.networks.add(networkId);
}

export function setNode(state: ClusterState, id: string, row: NodeRow | null, fx: Effects): void {
  const old = state.nodes.get(id);
  if (old) state.nodeIdByName.delete(old.name);
  if (row) {
    state.nodes.set(id, row);
    state.nodeIdByName.set(row.name, id);
  } else state.nodes.delete(id);
  const moved =
    !old ||
    !row ||
    old.underlayIp !== row.underlayIp ||
    old.underlayMtu !== row.underlayMtu ||
    old.name !== row.name ||
    JSON.stringify(old.physicalMtus) !== JSON.stringify(row.physicalMtus);
  if (!moved) return;
  // vtep, flood and mtu depend on the node's underlay; everything it appears in is touched
  for (const epId of state.epsByNode.get(id) ?? []) refreshEndpointView(state, epId, fx);
  for (const netId of state.netsByNode.get(id) ?? []) {
    fx.networks.add(netId);
    // a node that (re)appears needs its networks' full contents
    if (!old || !row) addFlip(fx, netId, id);
  }
  for (const keyId of state.keysByNode.get(id) ?? []) fx.keys.add(keyId);
  for (const ctId of state.ctsByNode.get(id) ?? []) fx.containers.add(ctId);
}

export function setNetwork(state: ClusterState, id: string, row: NetworkRow | null, fx: Effects): void {
  const old = state.networks.get(id);
  const before = old?.router?.id;
  const after = row?.router?.id;
  // the old router's networks, taken before the row changes them
  const touched = new Set([...(before ? routedSiblings(state, id) : []), id]);
  if (row) state.networks.set(id, row);
  else state.networks.delete(id);
  if (before !== after) {
    indexDel(state.netsByRouter, before, id);
    indexAdd(state.netsByRouter, row ? after : undefined, id);
    for (const s of routedSiblings(state, id)) touched.add(s);
    flipRouted(state, touched, fx);
  }
  fx.networks.add(id);
  if (Boolean(old) !== Boolean(row)) {
    for (const nodeId of state.hosts.get(id)?.keys() ?? []) addFlip(fx, id, nodeId);
  }
}

/** A routing change: every node hosting one of these networks may gain or lose all of them. */
function flipRouted(state: ClusterState, nets: Set<string>, fx: Effects): void {
  const nodes = new Set<string>();
  for (const n of nets) for (const nodeId of state.hosts.get(n)?.keys() ?? []) nodes.add(nodeId);
  for (const n of nets) for (const nodeId of nodes) addFlip(fx, n, nodeId);
}

export function setContainer(state: ClusterState, id: string, row: ContainerRow | null, fx: Effects): void {
  const old = state.containers.get(id);
  indexDel(state.ctsByNode, old?.nodeId, id);
  if (row) {
    state.containers.set(id, row);
    state.viewContainers.set(id, containerView(state, row));
    indexAdd(state.ctsByNode, row.nodeId, id);
  } else {
    state.containers.delete(id);
    state.viewContainers.delete(id);
  }
  fx.containers.add(id);
  for (const epId of state.epsByContainer.get(id) ?? []) refreshEndpointView(state, epId, fx);
}

function hostCount(state: ClusterState, networkId: string, nodeId: string, delta: number, fx: Effects): void {
  let m = state.hosts.get(networkId);
  if (!m) state.hosts.set(networkId, (m = new Map()));
  const before = m.get(nodeId) ?? 0;
  const after = before + delta;
  if (after > 0) m.set(nodeId, after);
  else m.delete(nodeId);
  if (m.size === 0) state.hosts.delete(networkId);
  if (before > 0 !== after > 0) {
    if (after > 0) indexAdd(state.netsByNode, nodeId, networkId);
    else indexDel(state.netsByNode, nodeId, networkId);
    // the node's routed siblings of the network come and go with it
    for (const s of routedSiblings(state, networkId)) addFlip(fx, s, nodeId);
    addFlip(fx, networkId, nodeId);
  }
}

export function setEndpoint(state: ClusterState, id: string, row: EndpointRow | null, fx: Effects): void {
  const old = state.endpoints.get(id);
  if (old) {
    indexDel(state.epsByNetwork, old.networkId, id);
    indexDel(state.epsByNode, old.nodeId, id);
    indexDel(state.epsByContainer, old.containerId, id);
    if (old.nodeId) hostCount(state, old.networkId, old.nodeId, -1, fx);
  }
  if (row) {
    state.endpoints.set(id, row);
    indexAdd(state.epsByNetwork, row.networkId, id);
    indexAdd(state.epsByNode, row.nodeId, id);
    indexAdd(state.epsByContainer, row.containerId, id);
    if (row.nodeId) hostCount(state, row.networkId, row.nodeId, +1, fx);
  } else state.endpoints.delete(id);
  refreshEndpointView(state, id, fx);
  fx.endpoints.add(id);
}

export function setKey(state: ClusterState, id: string, row: KeyRow | null, fx: Effects): void {
  const old = state.keys.get(id);
  if (old) {
    indexDel(state.keysByNetwork, old.networkId, id);
    indexDel(state.keysByNode, old.nodeA, id);
    indexDel(state.keysByNode, old.nodeB, id);
  }
  if (row) {
    state.keys.set(id, row);
    indexAdd(state.keysByNetwork, row.networkId, id);
    indexAdd(state.keysByNode, row.nodeA, id);
    indexAdd(state.keysByNode, row.nodeB, id);
  } else state.keys.delete(id);
  fx.keys.add(id);
}

/**
 * A repository changed: the view items of the tenant's RPM containers are rebuilt (only
 * nodes hosting them receive them). Repositories change rarely; one pass over the
 * containers is cheaper than keeping a per-tenant index up to date on every container write.
 */
export function setRepo(state: ClusterState, id: string, row: RepoRow | null, fx: Effects): void {
  const old = state.repos.get(id);
  indexDel(state.reposByTenant, old?.tenantId, id);
  if (row) {
    state.repos.set(id, row);
    indexAdd(state.reposByTenant, row.tenantId, id);
  } else state.repos.delete(id);
  const tenants = new Set([old?.tenantId, row?.tenantId].filter((t): t is string => t !== undefined));
  for (const [ctId, c] of state.containers) {
    if (!tenants.has(c.tenantId) || !isRpmImage(c.image)) continue;
    state.viewContainers.set(ctId, containerView(state, c));
    fx.containers.add(ctId);
  }
}
