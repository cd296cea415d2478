/** Tenant bridges `frb-<vni>`. */
import { newLinkMsg } from './link.js';
import type { NlMsg } from './netlink.js';

export interface BridgeSpec {
  name: string;
  mtu: number;
}

/** Creates the bridge, up, with the network MTU. */
export function createBridgeMsg(b: BridgeSpec): NlMsg {
  return newLinkMsg({ ifname: b.name, kind: 'bridge', mtu: b.mtu, up: true });
}
