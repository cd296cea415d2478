/** Pure: NodeView + node facts → desired kernel state (and per-network errors). */
import type { NodeView, ViewNetwork } from '../../protocol/view.js';
import { OVERHEAD } from '../../protocol/common.js';
import { ZERO_MAC } from '../kernel/fdb.js';
import { addGeneve } from './desired-geneve.js';
import { addGuards, guardPorts } from './desired-nft.js';
import { addPhysical, isPhysical, physicalUnsupported, tagCollisions } from './desired-physical.js';
import { externalBridges } from '../router/external.js';
import { bridgeName, gatewayMac, geneveName, networkBridge, physicalBridgeName, VXLAN_PORT, vxlanName } from '../names.js';
import { emptyState, fdbKey, neighKey, policyKey, saKey, type DesiredState, type NodeFacts, type PortSpec } from './types.js';

/** Why this node cannot carry the network, or undefined when it can. */
export function unsupported(n: ViewNetwork, f: NodeFacts): string | undefined {
  const c = f.capabilities;
  const lacks = (what: string): string => `kernel lacks ${what} (${c.details[what] ?? 'not supported'})`;
  if (n.type === 'physical') return physicalUnsupported(n, f, `physical network ${n.tenant}/${n.name}`);
  const where = `${n.type} network ${n.tenant}/${n.name} (vni ${n.vni})`;
  if (n.vni === null) return `${where}: no VNI`;
  if (n.type === 'geneve' && !c.geneve) return `${where}: ${lacks('geneve')}`;
  if (n.type !== 'geneve' && !c.vxlan) return `${where}: ${lacks('vxlan')}`;
  if (n.type === 'ipsec' && !c.esp) return `${where}: ${lacks('esp')}`;
  if (n.type === 'ipsec' && !c.aead) return `${where}: ${lacks('aead')}`;
  if (n.mtu + OVERHEAD[n.type] > f.underlayMtu) {
    return `${where}: mtu ${n.mtu} + ${OVERHEAD[n.type]} overhead exceeds underlay mtu ${f.underlayMtu}`;
  }
  if (n.vni < 1 || n.vni > 0xffffff) return `${where}: vni out of range`;
  return undefined;
}

/**
 * @param attachments runtime-owned ports (frh-…) → network id: their bridge membership is
 *   kept (re-enslaved after a bridge repair); nothing else about them is managed.
 */
export function desiredState(view: NodeView, facts: NodeFacts, attachments: ReadonlyMap<string, string> = new Map()): DesiredState {
  const s: DesiredState = { ...emptyState(), networkErrors: [] };
  const nets = Object.values(view.networks).sort((a, b) => (a.vni ?? -1) - (b.vni ?? -1) || a.id.localeCompare(b.id));
  const ok = new Map<string, ViewNetwork>();
  const collisions = tagCollisions(nets);
  for (const n of nets) {
    const why = unsupported(n, facts) ?? collisions.get(n.id);
    if (why) s.networkErrors.push({ network: n.id, message: why });
    else ok.set(n.id, n);
  }
  for (const n of ok.values()) {
    if (isPhysical(n)) addPhysical(s, n, facts);
    else addNetwork(s, n as ViewNetwork & { vni: number }, view, facts);
  }
  addExternalBridges(s, view, facts);
  for (const e of Object.values(view.endpoints)) {
    const n = ok.get(e.network);
    if (!n || e.node === view.node || e.vtep === facts.underlayIp) continue; // local: the bridge learns it
    if (n.vni === null || isPhysical(n)) continue; // the segment carries it: nothing into tunnels
    const dev = n.type === 'geneve' ? geneveName(n.vni, e.vtep) : vxlanName(n.vni);
    // a geneve peer whose device name collided (reported): never point its MACs at another peer
    if (n.type === 'geneve' && s.links.get(dev)?.remote !== e.vtep) continue;
    const br = bridgeName(n.vni);
    if (n.type !== 'geneve') {
      const self = { dev, mac: e.mac, table: 'self' as const, dst: e.vtep, network: n.id };
      s.fdb.set(fdbKey(self), self);
    }
    const master = { dev, mac: e.mac, table: 'master' as const, network: n.id };
    s.fdb.set(fdbKey(master), master);
    const neigh = { dev: br, ip: e.ip, mac: e.mac, network: n.id };
    s.neigh.set(neighKey(neigh), neigh);
  }
  addKeys(s, view, facts, ok);
  addGuards(s, view, facts);
  // the runtime's ports of this node's endpoints are known from the view itself;
  // explicit attachments (tests, drivers) add to them
  const ports = new Map<string, string>(guardPorts(view).map((p) => [p.ifname, p.network]));
  for (const [name, netId] of attachments) ports.set(name, netId);
  for (const [name, netId] of ports) {
    const n = ok.get(netId);
    if (n) s.ports.set(name, { name, master: networkBridge(n) } satisfies PortSpec);
  }
  return s;
}

function addNetwork(s: DesiredState, n: ViewNetwork & { vni: number }, view: NodeView, f: NodeFacts): void {
  const br = bridgeName(n.vni);
  s.links.set(br, { name: br, kind: 'bridge', mtu: n.mtu, up: true, vni: n.vni, network: n.id });
  if (n.router && n.gateway) {
    // the router answers at the gateway on every node: ARP for it is suppressed here, never flooded
    const gw = { dev: br, ip: n.gateway, mac: gatewayMac(n.vni), network: n.id };
    s.neigh.set(neighKey(gw), gw);
  }
  if (n.type === 'geneve') return addGeneve(s, n, view, f, br);
  const port = n.params?.type === 'vxlan' ? n.params.port : VXLAN_PORT; // ipsec: always 4789 (its xfrm policies and guard)
  const flood = [...new Set(n.flood)].filter((ip) => ip !== f.underlayIp).sort();
  const name = vxlanName(n.vni);
  s.links.set(name, {
    name,
    kind: 'vxlan',
    mtu: n.mtu,
    up: true,
    master: br,
    vni: n.vni,
    local: f.underlayIp,
    port,
    learning: false,
    neighSuppress: true,
    network: n.id,
  });
  for (const dst of flood) {
    const e = { dev: name, mac: ZERO_MAC, table: 'self' as const, dst, network: n.id };
    s.fdb.set(fdbKey(e), e);
  }
}

/** ESP SAs and policies per peer key, following the rotation phase. */
function addKeys(s: DesiredState, view: NodeView, f: NodeFacts, ok: Map<string, ViewNetwork>): void {
  const keys = Object.values(view.keys).sort((a, b) => a.generation - b.generation);
  for (const k of keys) {
    const n = ok.get(k.network);
    if (!n || n.type !== 'ipsec') continue;
    const inSa = { dir: 'in' as const, src: k.peerIp, dst: f.underlayIp, spi: k.spiIn, key: k.keyIn, network: n.id };
    s.sas.set(saKey(inSa), inSa);
    if (k.phase !== 'active') continue;
    const outSa = { dir: 'out' as const, src: f.underlayIp, dst: k.peerIp, spi: k.spiOut, key: k.keyOut, network: n.id };
    s.sas.set(saKey(outSa), outSa);
    for (const p of [
      { dir: 'out' as const, src: f.underlayIp, dst: k.peerIp, dport: VXLAN_PORT, network: n.id },
      { dir: 'in' as const, src: k.peerIp, dst: f.underlayIp, dport: VXLAN_PORT, network: n.id },
    ])
      s.policies.set(policyKey(p), p);
  }
}

/**
 * The physical bridges of the routers' external networks (their `frk-` ports join them, router/),
 * also on nodes with no container of that network. A node that does not map the physical network
 * reports it as an error of the routed networks: their router has no egress there.
 */
function addExternalBridges(s: DesiredState, view: NodeView, facts: NodeFacts): void {
  for (const x of externalBridges(view)) {
    const n = { id: x.network, params: { type: 'physical', physicalNetwork: x.physicalNetwork, vlan: x.vlan }, mtu: x.mtu } as ViewNetwork;
    const why = physicalUnsupported(n, facts, `external network of a router (physical network ${x.physicalNetwork})`);
    if (why) {
      for (const r of Object.values(view.networks))
        if (r.router?.externalNetwork?.id === x.network) s.networkErrors.push({ network: r.id, message: why });
      continue;
    }
    if (!s.links.has(physicalBridgeName(x.physicalNetwork, x.vlan))) addPhysical(s, n, facts);
  }
}
