import { ip4ToInt } from '../protocol/addr.js';

/**
 * The node's kernel object names and tunnel ports, in one place for the dataplane, the
 * runtime and the probe. Every name carries the `fr` prefix and fits IFNAMSIZ-1 (15):
 * `frb-` bridges, `frx-` vxlan, `frg…` geneve, `frh-` container veth host ends (runtime),
 * `frc-` container netns, `frp-` the capability probe.
 */

/** IANA UDP ports of the tunnels (RFC 7348, RFC 8926). */
export const VXLAN_PORT = 4789;
export const GENEVE_PORT = 6081;

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
export const isOwnedLink = (name: string): boolean => /^fr[bxg]-/.test(name) || /^frg[0-9a-f]{1,6}-[0-9a-f]{5}$/.test(name);
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
