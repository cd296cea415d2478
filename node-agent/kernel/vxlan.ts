/** VXLAN tunnel devices `frx-<vni>`: learning off, FDB programmed by the agent. */
import { newLinkMsg } from './link.js';
import { be16, ifla, ip4, ip4str, type NlMsg } from './netlink.js';

export interface VxlanSpec {
  name: string;
  vni: number;
  /** underlay source address */
  local: string;
  port: number;
  mtu: number;
  master?: number;
}

export function vxlanData(v: { vni: number; local: string; port: number }) {
  return ifla.formatVxlan({ id: v.vni, local: ip4(v.local), port: be16(v.port), learning: 0 });
}

export function createVxlanMsg(v: VxlanSpec): NlMsg {
  return newLinkMsg({ ifname: v.name, kind: 'vxlan', data: vxlanData(v), mtu: v.mtu, master: v.master, up: true });
}

export interface VxlanInfo {
  vni?: number;
  local?: string;
  port?: number;
  learning?: boolean;
}

export function parseVxlanData(data: Buffer | undefined): VxlanInfo {
  if (!data) return {};
  const v = ifla.parseVxlan(data);
  return { vni: v.id, local: ip4str(v.local), port: v.port?.readUInt16BE(0), learning: v.learning === 1 };
}
