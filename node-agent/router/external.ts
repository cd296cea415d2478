/**
 * Pure: a router's port on its external network (docs/dataplane.md "External networks and
 * floating IPs"). On every node that runs a router with an external network, a veth `frk-<slot>`
 * (host end, a port of the physical network's bridge `frm-…`) ↔ `frk-out` (inside the router netns)
 * carries this node's address of the external network (egress is source-NATed to it) and, as /32s,
 * the floating IPs of the containers this node runs: the router answers ARP for them on the
 * segment itself, so a floating IP is answered wherever its container runs.
 */
import { parseCidr4 } from '../../protocol/addr.js';
import type { NodeView, ViewRouter } from '../../protocol/view.js';
import { EXTERNAL_INNER, externalHostName, physicalBridgeName } from '../names.js';

export interface FloatingNat {
  /** the floating IP (on `frk-out`, answered on the segment) */
  ip: string;
  /** the container's address it maps to, one to one */
  fixed: string;
}

export interface ExternalPort {
  network: string;
  physicalNetwork: string;
  /** the physical network's bridge on this node (the dataplane makes it) */
  bridge: string;
  host: string;
  inner: string;
  /** this node's address/prefix on the external network; null: none allocated, no egress from here */
  address: string | null;
  /** the external network (on-link through the port) */
  cidr: string;
  /** the external network's gateway: the router's default route */
  gateway: string | null;
  mtu: number;
  floating: FloatingNat[];
}

export function externalPortOf(r: ViewRouter): ExternalPort | null {
  const x = r.externalNetwork;
  if (!x) return null;
  const { prefix } = parseCidr4(x.cidr);
  return {
    network: x.id,
    physicalNetwork: x.physicalNetwork,
    bridge: physicalBridgeName(x.physicalNetwork, x.vlan),
    host: externalHostName(r.slot),
    inner: EXTERNAL_INNER,
    address: r.externalIp ? `${r.externalIp}/${prefix}` : null,
    cidr: x.cidr,
    gateway: x.gateway,
    mtu: x.mtu,
    floating: [],
  };
}

/**
 * The floating IPs of the containers this node runs, on the router of the container's network
 * whose external network the address belongs to (`ports`: network id → its router's external port).
 */
export function addFloating(view: NodeView, ports: Map<string, ExternalPort>): void {
  for (const c of Object.values(view.containers)) {
    for (const f of c.floatingIps ?? []) {
      const ep = Object.values(view.endpoints)
        .filter((e) => e.owner === c.id && e.node === view.node && ports.get(e.network)?.network === f.network)
        .sort((a, b) => a.ifindex - b.ifindex)[0];
      if (ep) ports.get(ep.network)!.floating.push({ ip: f.ip, fixed: ep.ip });
    }
  }
  for (const p of new Set(ports.values())) p.floating.sort((a, b) => a.ip.localeCompare(b.ip));
}

/** The physical bridges routers need on this node (the dataplane keeps them even with no container of the network here). */
export function externalBridges(view: NodeView): Array<{ network: string; physicalNetwork: string; vlan?: number; mtu: number }> {
  const out = new Map<string, { network: string; physicalNetwork: string; vlan?: number; mtu: number }>();
  for (const n of Object.values(view.networks)) {
    const x = n.router?.externalNetwork;
    if (x && !out.has(x.id))
      out.set(x.id, { network: x.id, physicalNetwork: x.physicalNetwork, ...(x.vlan ? { vlan: x.vlan } : {}), mtu: x.mtu });
  }
  return [...out.values()];
}
