/**
 * Pure: the node view → the tenant routers this node runs (docs/dataplane.md "Routers").
 * Every node hosting an endpoint of a routed network runs that router: the same gateway IP and
 * MAC on every node, answered locally; one netns per router, so tenants with overlapping CIDRs
 * never share a routing table (this host kernel has no VRF).
 */
import { intToIp4, ip4ToInt, parseCidr4 } from '../../protocol/addr.js';
import type { NodeView, ViewNetwork } from '../../protocol/view.js';
import {
  bridgeName,
  gatewayMac,
  netnsName,
  routerInnerName,
  routerNetnsName,
  routerPortName,
  TRANSFER_BASE,
  TRANSFER_INNER,
  transferHostName,
} from '../names.js';
import { addFloating, externalPortOf, type ExternalPort } from './external.js';

export interface RouterPort {
  network: string;
  vni: number;
  /** host end, a port of `bridge` */
  host: string;
  /** inside the router netns: the gateway */
  inner: string;
  bridge: string;
  mac: string;
  /** gateway/prefix */
  address: string;
  mtu: number;
}

export interface Publish {
  proto: 'tcp' | 'udp';
  /** the node's underlay address (or the container's publish IP) and port outside */
  hostIp: string;
  hostPort: number;
  /** the container's address and port */
  ip: string;
  port: number;
}

export interface RouterSpec {
  id: string;
  name: string;
  tenant: string;
  slot: number;
  ns: string;
  external: boolean;
  ports: RouterPort[];
  /** every endpoint of the router's networks: no ARP from the router, ever */
  neigh: Array<{ dev: string; ip: string; mac: string }>;
  /** the transfer link to the node (egress and published ports), null without either */
  transfer: { host: string; inner: string; hostIp: string; innerIp: string } | null;
  publish: Publish[];
  /** the port on the router's external network (external.ts), null without one */
  externalPort: ExternalPort | null;
}

/** An infra container hosted here whose network is routed: its default route goes through the gateway (DNS forwarding). */
export interface InfraRoute {
  ns: string;
  via: string;
}

/** The /31 of a slot: host end even, router end odd. */
export function transferAddresses(slot: number): { hostIp: string; innerIp: string } {
  const base = ip4ToInt(TRANSFER_BASE) + 2 * slot;
  return { hostIp: intToIp4(base), innerIp: intToIp4(base + 1) };
}

type RoutedNet = ViewNetwork & { vni: number; gateway: string };
/** Overlay networks on a router (physical ones, without a VNI, are refused at attach). */
const routedNets = (view: NodeView): RoutedNet[] =>
  Object.values(view.networks)
    .filter((n): n is RoutedNet => Boolean(n.router) && n.gateway !== null && n.vni !== null)
    .sort((a, b) => a.vni - b.vni);

export function desiredRouters(view: NodeView): Map<string, RouterSpec> {
  const out = new Map<string, RouterSpec>();
  for (const n of routedNets(view)) {
    const r = n.router!;
    let spec = out.get(r.id);
    if (!spec) {
      const ns = routerNetnsName(r.id, view.underlayIp);
      spec = {
        id: r.id,
        name: r.name,
        tenant: n.tenant,
        slot: r.slot,
        ns,
        external: r.external,
        ports: [],
        neigh: [],
        transfer: null,
        publish: [],
        externalPort: externalPortOf(r),
      };
      out.set(r.id, spec);
    }
    const { prefix } = parseCidr4(n.cidr);
    spec.ports.push({
      network: n.id,
      vni: n.vni,
      host: routerPortName(n.vni),
      inner: routerInnerName(n.vni),
      bridge: bridgeName(n.vni),
      mac: gatewayMac(n.vni),
      address: `${n.gateway}/${prefix}`,
      mtu: n.mtu,
    });
  }
  const portOf = new Map<string, { spec: RouterSpec; port: RouterPort }>();
  for (const spec of out.values()) for (const port of spec.ports) portOf.set(port.network, { spec, port });
  for (const e of Object.values(view.endpoints).sort((a, b) => ip4ToInt(a.ip) - ip4ToInt(b.ip))) {
    const at = portOf.get(e.network);
    if (at) at.spec.neigh.push({ dev: at.port.inner, ip: e.ip, mac: e.mac });
  }
  addPublished(view, portOf);
  const external = new Map<string, ExternalPort>();
  for (const [net, { spec }] of portOf) if (spec.externalPort) external.set(net, spec.externalPort);
  addFloating(view, external);
  for (const spec of out.values()) {
    if (spec.external || spec.publish.length > 0)
      spec.transfer = { host: transferHostName(spec.slot), inner: TRANSFER_INNER, ...transferAddresses(spec.slot) };
  }
  return out;
}

/** Published ports of the containers this node runs, on the router of the container's first routed network. */
function addPublished(view: NodeView, portOf: Map<string, { spec: RouterSpec; port: RouterPort }>): void {
  for (const c of Object.values(view.containers)) {
    if (!c.publish?.length) continue;
    const eps = Object.values(view.endpoints)
      .filter((e) => e.owner === c.id && e.node === view.node && portOf.has(e.network))
      .sort((a, b) => a.ifindex - b.ifindex);
    if (!eps[0]) continue;
    const { spec } = portOf.get(eps[0].network)!;
    for (const p of c.publish)
      spec.publish.push({ proto: p.proto, hostIp: p.hostIp ?? view.underlayIp, hostPort: p.hostPort, ip: eps[0].ip, port: p.port });
  }
}

export function infraRoutes(view: NodeView): InfraRoute[] {
  const out: InfraRoute[] = [];
  for (const e of Object.values(view.endpoints)) {
    const n = view.networks[e.network];
    if (e.kind !== 'infra' || e.node !== view.node || !n?.router || !n.gateway || !view.containers[e.owner]) continue;
    out.push({ ns: netnsName(e.owner), via: n.gateway });
  }
  return out;
}
