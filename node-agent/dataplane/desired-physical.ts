/**
 * Pure: physical networks (flat and 802.1Q VLAN provider networks on a mapped host interface).
 * Per physical network and VLAN a bridge `frm-<tag>[-<vlan>]` whose uplink is the mapped interface
 * itself (flat) or its VLAN sub-interface `frv-<tag>-<vlan>` (tagged); container veths join it.
 * The uplink is trusted and learns (the segment's hosts are not Freight's); container ports are
 * guarded by the anti-spoofing table (desired-nft.ts), which drops every forged source before the
 * bridge could learn it. No tunnel, no FDB or neighbour entries: nothing goes to other nodes but
 * through the segment. Frames on the wire are untagged (flat) or tagged by the sub-interface.
 */
import type { ViewNetwork } from '../../protocol/view.js';
import { physicalBridgeName, physicalTag, vlanName } from '../names.js';
import type { DesiredState, NodeFacts } from './types.js';

export const isPhysical = (n: ViewNetwork): n is ViewNetwork & { params: { type: 'physical' } } => n.params?.type === 'physical';

/** Why this node cannot carry the physical network, or undefined. */
export function physicalUnsupported(n: ViewNetwork, f: NodeFacts, where: string): string | undefined {
  if (n.params?.type !== 'physical') return `${where}: no physical network in its parameters`;
  const pn = n.params.physicalNetwork;
  const m = f.capabilities.physicalNetworks?.[pn];
  if (!m) return `${where}: node ${f.node} does not map physical network ${pn} (freight-agent --physical-network ${pn}=IFACE)`;
  if (n.params.vlan !== undefined && !f.capabilities.vlan)
    return `${where}: kernel lacks 802.1Q VLAN (${f.capabilities.details.vlan ?? 'not supported'})`;
  if (n.mtu > m.mtu) return `${where}: mtu ${n.mtu} exceeds the mtu ${m.mtu} of ${m.interface} (physical network ${pn})`;
  return undefined;
}

/** Physical networks whose names share a tag on this node (names would collide): the later ones are refused. */
export function tagCollisions(nets: ViewNetwork[]): Map<string, string> {
  const owner = new Map<string, string>();
  const out = new Map<string, string>();
  for (const n of nets) {
    if (n.params?.type !== 'physical') continue;
    const pn = n.params.physicalNetwork;
    const tag = physicalTag(pn);
    const other = owner.get(tag);
    if (other !== undefined && other !== pn) out.set(n.id, `physical networks ${other} and ${pn} share the name tag ${tag}`);
    else owner.set(tag, pn);
  }
  return out;
}

export function addPhysical(s: DesiredState, n: ViewNetwork, f: NodeFacts): void {
  if (n.params?.type !== 'physical') return;
  const { physicalNetwork: pn, vlan } = n.params;
  const iface = f.capabilities.physicalNetworks[pn].interface;
  const br = physicalBridgeName(pn, vlan);
  s.links.set(br, { name: br, kind: 'bridge', mtu: n.mtu, up: true, network: n.id });
  const uplink = s.uplinks.get(iface) ?? { name: iface, up: true, network: n.id };
  if (vlan === undefined) {
    uplink.master = br;
  } else {
    const name = vlanName(pn, vlan);
    s.links.set(name, {
      name,
      kind: 'vlan',
      mtu: n.mtu,
      up: true,
      master: br,
      vlan,
      parent: iface,
      learning: true,
      neighSuppress: false,
      network: n.id,
    });
  }
  s.uplinks.set(iface, uplink);
}
