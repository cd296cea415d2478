/** 802.1Q sub-interfaces `frv-<tag>-<vlan>` of a physical network's mapped interface. */
import { newLinkMsg } from './link.js';
import { ifla, type NlMsg } from './netlink.js';

export interface VlanSpec {
  name: string;
  /** ifindex of the mapped interface */
  parent: number;
  vlan: number;
  mtu: number;
  master?: number;
}

/** Equivalent to: `ip link add NAME link PARENT type vlan id VLAN` (protocol 802.1Q, the default). */
export function createVlanMsg(v: VlanSpec): NlMsg {
  return newLinkMsg({
    ifname: v.name,
    kind: 'vlan',
    data: ifla.formatVlan({ id: v.vlan }),
    link: v.parent,
    mtu: v.mtu,
    master: v.master,
    up: true,
  });
}

export function parseVlanData(data: Buffer | undefined): { vlan?: number } {
  if (!data) return {};
  return { vlan: ifla.parseVlan(data).id };
}
