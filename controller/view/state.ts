import type { NetworkType, RestartPolicy } from '../../protocol/common.js';
import type { NetworkParams } from '../../protocol/network-params.js';
import type { ViewContainer, ViewEndpoint, ViewPublish, ViewRouter, ViewSecurityGroup } from '../../protocol/view.js';
import type { DhcpOptions } from '../../protocol/meta.js';

/** Rows of the cluster model, as loaded from the database (ids are uuids). */
export interface NodeRow {
  id: string;
  name: string;
  underlayIp: string;
  underlayMtu: number;
  ready: boolean;
  /** physical network → MTU of the interface the node maps it to (its agent's report) */
  physicalMtus: Record<string, number>;
}
export interface NetworkRow {
  id: string;
  tenantId: string;
  tenant: string;
  name: string;
  type: NetworkType;
  vni: number | null;
  params: NetworkParams;
  dhcp: boolean;
  cidr: string;
  gateway: string | null;
  mtu: number | null;
  domain: string;
  /** The router the network is attached to, with the router's fields (null: none); `externalIps`: node id → its external address. */
  router: (Omit<ViewRouter, 'externalIp'> & { externalIps?: Record<string, string> }) | null;
  /** absent or empty: none (the built-in options only) */
  dhcpOptions?: DhcpOptions;
  /** absent or null: the agent's --dns-upstream */
  dnsUpstreams?: string[] | null;
}
export interface ContainerRow {
  id: string;
  tenantId: string;
  tenant: string;
  name: string;
  kind: 'container' | 'infra';
  networkId: string | null;
  image: string;
  command: string[];
  boot: boolean;
  restart: RestartPolicy;
  nodeId: string | null;
  desired: 'running' | 'stopped';
  generation: number;
  /** bytes, millicores (null: no quota), tasks */
  memory: number;
  cpuMillis: number | null;
  pids: number;
  /** published ports (`--publish`), empty for most */
  publish: ViewPublish[];
  /** effective security group ids (kind container; absent: unfiltered) and those groups with their rules */
  groups?: string[];
  securityGroups?: ViewSecurityGroup[];
  /** floating IPs associated to it (at most one), empty for most */
  floatingIps?: Array<{ ip: string; network: string }>;
}
export interface EndpointRow {
  id: string;
  networkId: string;
  containerId: string;
  ifindex: number;
  mac: string;
  ip: string;
  nodeId: string | null;
  /** plugged into an existing container (container attach): its node runs the DHCP exchange */
  plugged?: boolean;
}
/** A tenant's image repository (yum URL + signing key): part of its RPM containers' view items. */
export interface RepoRow {
  id: string;
  tenantId: string;
  name: string;
  url: string;
  publicKey: string;
}
export interface KeyRow {
  id: string;
  networkId: string;
  nodeA: string;
  nodeB: string;
  generation: number;
  spiAb: number;
  spiBa: number;
  keyAb: string;
  keyBa: string;
  phase: 'inbound' | 'active' | 'retiring';
}

/**
 * The in-memory cluster model one controller replica keeps, with the indexes the
 * compiler needs so that one change costs work proportional to what it touches.
 * Node-independent view items (endpoints, containers) are cached here once, so
 * every session shares the same objects and compares them by reference.
 */
export interface ClusterState {
  nodes: Map<string, NodeRow>;
  nodeIdByName: Map<string, string>;
  networks: Map<string, NetworkRow>;
  containers: Map<string, ContainerRow>;
  endpoints: Map<string, EndpointRow>;
  keys: Map<string, KeyRow>;
  repos: Map<string, RepoRow>;
  /** tenant → its image repositories. */
  reposByTenant: Map<string, Set<string>>;
  /** network → node → number of endpoints of that network on that node. */
  hosts: Map<string, Map<string, number>>;
  /** node → networks it hosts (derived from `hosts`). */
  netsByNode: Map<string, Set<string>>;
  /** router → its attached networks. */
  netsByRouter: Map<string, Set<string>>;
  epsByNetwork: Map<string, Set<string>>;
  epsByNode: Map<string, Set<string>>;
  epsByContainer: Map<string, Set<string>>;
  ctsByNode: Map<string, Set<string>>;
  keysByNetwork: Map<string, Set<string>>;
  keysByNode: Map<string, Set<string>>;
  viewEndpoints: Map<string, ViewEndpoint>;
  viewContainers: Map<string, ViewContainer>;
}

export function emptyState(): ClusterState {
  return {
    nodes: new Map(),
    nodeIdByName: new Map(),
    networks: new Map(),
    containers: new Map(),
    endpoints: new Map(),
    keys: new Map(),
    repos: new Map(),
    reposByTenant: new Map(),
    hosts: new Map(),
    netsByNode: new Map(),
    netsByRouter: new Map(),
    epsByNetwork: new Map(),
    epsByNode: new Map(),
    epsByContainer: new Map(),
    ctsByNode: new Map(),
    keysByNetwork: new Map(),
    keysByNode: new Map(),
    viewEndpoints: new Map(),
    viewContainers: new Map(),
  };
}

export function indexAdd<K, V>(m: Map<K, Set<V>>, k: K | null | undefined, v: V): void {
  if (k === null || k === undefined) return;
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

export function indexDel<K, V>(m: Map<K, Set<V>>, k: K | null | undefined, v: V): void {
  if (k === null || k === undefined) return;
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

/** The node has an endpoint of the network. */
export function hostsDirectly(state: ClusterState, nodeId: string, networkId: string): boolean {
  return (state.hosts.get(networkId)?.get(nodeId) ?? 0) > 0;
}

/** The networks attached to the same router as `networkId` (itself included; just itself when unrouted). */
export function routedSiblings(state: ClusterState, networkId: string): Iterable<string> {
  const r = state.networks.get(networkId)?.router;
  return r ? (state.netsByRouter.get(r.id) ?? [networkId]) : [networkId];
}

/**
 * The node needs the network: it has an endpoint of it, or of another network of the same
 * router (distributed routing: the source node routes into every network of its router).
 */
export function hostsNetwork(state: ClusterState, nodeId: string, networkId: string): boolean {
  for (const id of routedSiblings(state, networkId)) if (hostsDirectly(state, nodeId, id)) return true;
  return false;
}

/** Every network the node needs: the ones it hosts and their routed siblings. */
export function networksOfNode(state: ClusterState, nodeId: string): Set<string> {
  const out = new Set<string>();
  for (const id of state.netsByNode.get(nodeId) ?? []) for (const s of routedSiblings(state, id)) out.add(s);
  return out;
}
