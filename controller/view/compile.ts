import { ip4ToInt } from '../../protocol/addr.js';
import { DEFAULT_UNDERLAY_MTU, OVERHEAD } from '../../protocol/common.js';
import {
  emptyView,
  type NodeView,
  type ViewContainer,
  type ViewEndpoint,
  type ViewKey,
  type ViewNetwork,
  type ViewRouter,
} from '../../protocol/view.js';
import { hostsNetwork, networksOfNode, type ClusterState, type NetworkRow, type NodeRow } from './state.js';

/**
 * The view compiler: pure functions of (cluster state, node). The whole view is
 * the union of the per-item functions, so a delta for a touched item computes
 * exactly what a snapshot would contain for it.
 */

/** Sorted distinct underlay IPs of every node hosting a network; memoised per batch by the caller. */
export type FloodMemo = Map<string, string[]>;

function hostIps(state: ClusterState, networkId: string, memo?: FloodMemo): string[] {
  const hit = memo?.get(networkId);
  if (hit) return hit;
  const ips = new Set<string>();
  for (const [nodeId, count] of state.hosts.get(networkId) ?? []) {
    const ip = count > 0 ? state.nodes.get(nodeId)?.underlayIp : undefined;
    if (ip) ips.add(ip);
  }
  const sorted = [...ips].sort((a, b) => ip4ToInt(a) - ip4ToInt(b));
  memo?.set(networkId, sorted);
  return sorted;
}

export function networkFor(state: ClusterState, nodeId: string, networkId: string, memo?: FloodMemo): ViewNetwork | undefined {
  const net = state.networks.get(networkId);
  const node = state.nodes.get(nodeId);
  if (!net || !node || !hostsNetwork(state, nodeId, networkId)) return undefined;
  return {
    id: net.id,
    tenant: net.tenant,
    name: net.name,
    type: net.type,
    vni: net.vni,
    params: net.params,
    dhcp: net.dhcp,
    cidr: net.cidr,
    gateway: net.gateway,
    mtu: net.mtu ?? mtuOf(net, node),
    domain: net.domain,
    // only when set: a network without them has the view item older agents know
    ...(net.dhcpOptions && Object.keys(net.dhcpOptions).length > 0 ? { dhcpOptions: net.dhcpOptions } : {}),
    ...(net.dnsUpstreams ? { dnsUpstreams: net.dnsUpstreams } : {}),
    // physical networks: the segment carries the frames, nothing is flooded to other nodes
    flood: net.type === 'physical' ? [] : hostIps(state, networkId, memo).filter((ip) => ip !== node.underlayIp),
    ...(net.router ? { router: routerFor(net.router, node) } : {}),
  };
}

/** The router as this node sees it: the external network's MTU on this node and this node's address on it. */
function routerFor(r: NonNullable<NetworkRow['router']>, node: NodeRow): ViewRouter {
  const { externalIps, externalNetwork: x, ...rest } = r;
  if (!x) return rest;
  const ip = externalIps?.[node.id];
  const mtu = x.mtu > 0 ? x.mtu : (node.physicalMtus[x.physicalNetwork] ?? DEFAULT_UNDERLAY_MTU);
  return { ...rest, externalNetwork: { ...x, mtu }, ...(ip ? { externalIp: ip } : {}) };
}

/** The MTU a node derives: its underlay MTU minus the encapsulation, or its mapped interface's for a physical network. */
function mtuOf(net: NetworkRow, node: NodeRow): number {
  if (net.params.type === 'physical') return node.physicalMtus[net.params.physicalNetwork] ?? DEFAULT_UNDERLAY_MTU;
  return (node.underlayMtu || DEFAULT_UNDERLAY_MTU) - OVERHEAD[net.type];
}

export function endpointFor(state: ClusterState, nodeId: string, endpointId: string): ViewEndpoint | undefined {
  const ep = state.endpoints.get(endpointId);
  if (!ep || !state.networks.has(ep.networkId) || !hostsNetwork(state, nodeId, ep.networkId)) return undefined;
  return state.viewEndpoints.get(endpointId);
}

export function containerFor(state: ClusterState, nodeId: string, containerId: string): ViewContainer | undefined {
  const ct = state.containers.get(containerId);
  if (!ct || ct.nodeId !== nodeId) return undefined;
  return state.viewContainers.get(containerId);
}

/** A key as seen from `nodeId`: the `Out` fields are the direction this node sends with. */
export function keyFor(state: ClusterState, nodeId: string, keyId: string): ViewKey | undefined {
  const k = state.keys.get(keyId);
  if (!k || (k.nodeA !== nodeId && k.nodeB !== nodeId)) return undefined;
  if (!state.networks.has(k.networkId) || !hostsNetwork(state, nodeId, k.networkId)) return undefined;
  const isA = k.nodeA === nodeId;
  const peer = state.nodes.get(isA ? k.nodeB : k.nodeA);
  if (!peer) return undefined;
  return {
    id: k.id,
    network: k.networkId,
    peer: peer.name,
    peerIp: peer.underlayIp,
    generation: k.generation,
    spiOut: isA ? k.spiAb : k.spiBa,
    spiIn: isA ? k.spiBa : k.spiAb,
    keyOut: isA ? k.keyAb : k.keyBa,
    keyIn: isA ? k.keyBa : k.keyAb,
    phase: k.phase,
  };
}

/**
 * The complete view of one node. A node unknown to the state gets an empty view. `memo`: flood
 * lists already computed for this state (valid until the state changes). `withEndpoints` false:
 * no endpoints (the bulk of a view: every endpoint of every network the node hosts), for a
 * resume that sends a delta and remembers only networks, containers and keys (HeldView).
 */
export function compileView(state: ClusterState, nodeName: string, revision: number, memo?: FloodMemo, withEndpoints = true): NodeView {
  const nodeId = state.nodeIdByName.get(nodeName);
  const node = nodeId ? state.nodes.get(nodeId) : undefined;
  if (!nodeId || !node) return { ...emptyView(nodeName, '0.0.0.0'), revision };
  const view: NodeView = { ...emptyView(nodeName, node.underlayIp), revision };
  for (const netId of networksOfNode(state, nodeId)) {
    const net = networkFor(state, nodeId, netId, memo);
    if (!net) continue;
    view.networks[netId] = net;
    if (withEndpoints)
      for (const epId of state.epsByNetwork.get(netId) ?? []) {
        const ep = endpointFor(state, nodeId, epId);
        if (ep) view.endpoints[epId] = ep;
      }
  }
  for (const ctId of state.ctsByNode.get(nodeId) ?? []) {
    const ct = containerFor(state, nodeId, ctId);
    if (ct) view.containers[ctId] = ct;
  }
  for (const keyId of state.keysByNode.get(nodeId) ?? []) {
    const k = keyFor(state, nodeId, keyId);
    if (k) view.keys[keyId] = k;
  }
  return view;
}
