import { createHash } from 'node:crypto';
import { ip4ToInt } from '../protocol/addr.js';
import type { ViewNetwork } from '../protocol/view.js';

/**
 * The node's kernel object names and tunnel ports, in one place for the dataplane, the
 * runtime and the probe. Every name carries the `fr` prefix and fits IFNAMSIZ-1 (15):
 * `frb-` bridges, `frx-` vxlan, `frg…` geneve, `frm-` physical network bridges, `frv-` their VLAN
 * sub-interfaces, `frh-` container veth host ends (runtime), `frc-` container netns, `frp-` the
 * capability probe. The one exception is a physical network's mapped interface (the operator names it
 * with --physical-network NAME=IFACE): the dataplane enslaves it to a flat network's bridge and
 * stacks VLAN sub-interfaces on it, and changes nothing else about it.
 */

/** IANA UDP ports of the tunnels (RFC 7348, RFC 8926): the defaults, a network's params may name others. */
export const VXLAN_PORT = 4789;
export const GENEVE_PORT = 6081;

/** 6 hex digits of SHA-256 of a physical network's name: its names fit 15 characters whatever its length. */
export const physicalTag = (physicalNetwork: string): string => createHash('sha256').update(physicalNetwork).digest('hex').slice(0, 6);
/** The bridge of a physical network: `frm-<tag>` flat, `frm-<tag>-<vlan>` per VLAN (at most 15). */
export const physicalBridgeName = (physicalNetwork: string, vlan?: number): string =>
  `frm-${physicalTag(physicalNetwork)}${vlan === undefined ? '' : `-${vlan}`}`;
/** The 802.1Q sub-interface of the mapped interface for one VLAN: `frv-<tag>-<vlan>`. */
export const vlanName = (physicalNetwork: string, vlan: number): string => `frv-${physicalTag(physicalNetwork)}-${vlan}`;

/** The bridge a network's container ports join on this node. */
export function networkBridge(n: Pick<ViewNetwork, 'type' | 'vni' | 'params'>): string {
  if (n.params?.type === 'physical') return physicalBridgeName(n.params.physicalNetwork, n.params.vlan);
  return bridgeName(n.vni ?? 0);
}

/** The agent's nft tables (`bridge freight`, `inet freight`; kernel/nft-rules.ts, nft-sg.ts). */
export const NFT_TABLE = 'freight';

export const bridgeName = (vni: number): string => `frb-${vni}`;
export const vxlanName = (vni: number): string => `frx-${vni}`;
/**
 * One geneve device per remote peer: `frg<vni hex>-<low 20 bits of the peer's underlay IP,
 * 5 hex>`, at most 3 + 6 + 1 + 5 = 15 chars (198.18.0.2, VNI 300 → `frg12c-20002`). Unique per
 * network while the underlay fits a /12; desired.ts reports a collision as a network error.
 */
export const geneveName = (vni: number, peer: string): string => {
  const low = ip4ToInt(peer) & 0xfffff;
  return `frg${vni.toString(16)}-${low.toString(16).padStart(5, '0')}`;
};
/** Links the dataplane owns (bridges and tunnels); `frh-` (runtime veths) and `frp-` (probe) are not. */
export const isOwnedLink = (name: string): boolean => /^fr[bxgmv]-/.test(name) || /^frg[0-9a-f]{1,6}-[0-9a-f]{5}$/.test(name);
export const isRuntimePort = (name: string): boolean => name.startsWith('frh-');

/** The capability probe's throw-away tunnel (kernel/probe.ts). */
export const PROBE_LINK = 'frp-probe';

/** First 8 hex digits of the container id: unique enough per node, short enough for 15-char link names. */
export function shortId(id: string): string {
  const s = id.replace(/-/g, '').toLowerCase().slice(0, 8);
  if (!/^[0-9a-z]{1,8}$/.test(s)) throw new Error(`short id of ${id}: not alphanumeric`);
  return s;
}

/** The container's network namespace, in /run/netns so `ip netns` sees it. */
export const netnsName = (id: string): string => `frc-${shortId(id)}`;

/** Host end of the veth for interface `ifindex` (eth<ifindex> inside): frh-<8><ifindex>, ≤ 15 chars. */
export function hostVethName(id: string, ifindex: number): string {
  if (!Number.isInteger(ifindex) || ifindex < 0 || ifindex > 999) throw new Error(`veth name for ${id}: ifindex ${ifindex} out of range`);
  return `frh-${shortId(id)}${ifindex}`;
}

/**
 * Tenant routers (docs/dataplane.md "Routers"): one netns per router per node,
 * `frr<6 hex of the router id>-<low 20 bits of the node's underlay IP, 5 hex>` (15 chars: unique
 * per router, and per node on a machine that runs several test nodes, like the geneve names);
 * per attached network a veth `frq-<vni>` (host end, port of `frb-<vni>`) ↔ `frn-<vni>`
 * (inside, the gateway address and MAC); for egress and published ports a transfer veth
 * `fre-<slot>` (host) ↔ `fre-out` (inside) with the /31 of the router's slot in TRANSFER_BASE.
 */
const underlaySuffix = (underlayIp: string): string => (ip4ToInt(underlayIp) & 0xfffff).toString(16).padStart(5, '0');
export const routerNetnsName = (routerId: string, underlayIp: string): string =>
  `frr${routerId.replace(/-/g, '').toLowerCase().slice(0, 6)}-${underlaySuffix(underlayIp)}`;
export const routerPortName = (vni: number): string => `frq-${vni}`;
export const routerInnerName = (vni: number): string => `frn-${vni}`;
export const transferHostName = (slot: number): string => `fre-${slot}`;
export const TRANSFER_INNER = 'fre-out';
/** A router's port on its external network: `frk-<slot>` (host end, in the physical network's bridge) ↔ `frk-out` (inside). */
export const externalHostName = (slot: number): string => `frk-${slot}`;
export const EXTERNAL_INNER = 'frk-out';
/** 169.254.0.0/18: 8192 /31s, one per router slot (clear of 169.254.169.254, the cloud metadata address). */
export const TRANSFER_BASE = '169.254.0.0';
/** A router netns of the node with this underlay address (other nodes' ones on the same machine are not ours). */
export const isRouterNetnsOf = (name: string, underlayIp: string): boolean =>
  /^frr[0-9a-z]{6}-[0-9a-f]{5}$/.test(name) && name.endsWith(`-${underlaySuffix(underlayIp)}`);

/** The gateway MAC of a routed network, the same on every node: `06:<vni 3 bytes>:00:01` (locally administered). */
export function gatewayMac(vni: number): string {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return ['06', h((vni >>> 16) & 255), h((vni >>> 8) & 255), h(vni & 255), '00', '01'].join(':');
}
