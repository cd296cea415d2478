/** Tenant bridges `frb-<vni>`. */
import { newLinkMsg } from './link.js';
import type { NlMsg } from './netlink.js';

export interface BridgeSpec {
  name: string;
  mtu: number;
  /** the network's VNI: gives the bridge its fixed MAC (bridgeMac) */
  vni?: number;
  /** fixed MAC; default bridgeMac(vni) */
  address?: string;
}

/**
 * A fixed, locally administered MAC per bridge: 02:fb:<vni, 3 bytes>:00. Without a set
 * address a bridge takes its lowest port's MAC and changes it whenever a port comes or
 * goes, and every address change flushes the bridge's neighbour table, permanent
 * entries included (the ARP-suppression entries would vanish with each new container).
 */
export function bridgeMac(vni: number): string {
  const b = [0x02, 0xfb, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0x00];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Creates the bridge, up, with the network MTU and a fixed MAC. */
export function createBridgeMsg(b: BridgeSpec): NlMsg {
  const address = b.address ?? (b.vni !== undefined ? bridgeMac(b.vni) : undefined);
  return newLinkMsg({ ifname: b.name, kind: 'bridge', mtu: b.mtu, up: true, address });
}
