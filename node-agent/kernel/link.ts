/** Generic link operations (any kind): dump, lookup, set MTU/master/up, port flags, delete. */
import {
  NLM_F,
  RTM,
  bridgePortInfo,
  ifla,
  linkPayload,
  macStr,
  parseLinkKind,
  rt,
  type BridgePortFlags,
  type LinkAttrs,
  type LinkMessage,
  type NetlinkGateway,
  type NlMsg,
  type StreamData,
  linkInfo,
} from './netlink.js';
import { endianness } from 'node:os';
import { isNetlinkError } from './errors.js';

export interface LinkState {
  index: number;
  name: string;
  kind?: string;
  mtu: number;
  up: boolean;
  /** ifindex of the master (bridge), absent when not enslaved */
  master?: number;
  mac?: string;
  /** `bridge` when the link is a bridge port */
  slaveKind?: string;
  /** bridge port flags when slaveKind is bridge */
  port?: { learning: boolean; neighSuppress: boolean; isolated: boolean };
  /** kind-specific data (IFLA_INFO_DATA), decoded by the kind's file */
  data?: Buffer;
  /** IFLA_LINK: ifindex of the parent (vlan sub-interfaces) */
  link?: number;
}

export function parseLink(m: LinkMessage): LinkState {
  const info = parseLinkKind(m);
  const s: LinkState = {
    index: m.data.index ?? 0,
    name: m.attrs.ifname ?? '',
    kind: info.kind,
    mtu: m.attrs.mtu ?? 0,
    up: !!m.data.flags?.up,
    mac: macStr(m.attrs.address),
    data: info.data,
  };
  if (m.attrs.master) s.master = m.attrs.master;
  if (m.attrs.link && m.attrs.link.length >= 4) s.link = u32(m.attrs.link);
  if (info.slaveKind) s.slaveKind = info.slaveKind;
  if (info.slaveKind === 'bridge' && info.slaveData) {
    const p = ifla.parseBridgePort(info.slaveData);
    s.port = {
      learning: p.learning === 1,
      neighSuppress: !!p.neighSuppress && p.neighSuppress[0] === 1,
      isolated: !!p.isolated && p.isolated[0] === 1,
    };
  }
  return s;
}

export async function dumpLinks(gw: NetlinkGateway): Promise<LinkState[]> {
  const msgs = await gw.dump({ type: RTM.GETLINK, payload: linkPayload({}, {}), op: 'dump', target: 'links' });
  return msgs.filter((m) => m.type === RTM.NEWLINK).map((m) => parseLink(rt.parseLinkMessage(m.data)));
}

/** ifindex of a link by name, undefined when it does not exist. */
export async function ifindexOf(gw: NetlinkGateway, name: string): Promise<number | undefined> {
  try {
    const msgs = await gw.request({ type: RTM.GETLINK, payload: linkPayload({}, { ifname: name }), op: 'get link', target: name });
    const m = msgs.find((x) => x.type === RTM.NEWLINK);
    return m ? rt.parseLinkMessage(m.data).data.index : undefined;
  } catch (e) {
    if (isNetlinkError(e, 'no_device')) return undefined;
    throw e;
  }
}

export interface NewLinkSpec {
  ifname: string;
  kind: string;
  /** IFLA_INFO_DATA of the kind */
  data?: StreamData;
  mtu?: number;
  master?: number;
  up?: boolean;
  /** MAC address, lower-case colon form */
  address?: string;
  /** create the link directly inside the namespace of this fd (e.g. /run/netns/NAME) */
  netNsFd?: number;
  /** IFLA_LINK: the parent's ifindex (vlan) */
  link?: number;
}

/** IFLA_LINK and other u32 attributes the library leaves as raw bytes: host byte order. */
const LE = endianness() === 'LE';
const u32 = (b: Buffer): number => (LE ? b.readUInt32LE(0) : b.readUInt32BE(0));
const u32Buf = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
};

/** RTM_NEWLINK with CREATE|EXCL: creates a link of any kind. */
export function newLinkMsg(spec: NewLinkSpec): NlMsg {
  const attrs: LinkAttrs = { ifname: spec.ifname, linkinfo: linkInfo(spec.kind, spec.data) };
  if (spec.mtu) attrs.mtu = spec.mtu;
  if (spec.master) attrs.master = spec.master;
  if (spec.netNsFd !== undefined) attrs.netNsFd = spec.netNsFd;
  if (spec.link !== undefined) attrs.link = u32Buf(spec.link);
  if (spec.address) attrs.address = Buffer.from(spec.address.split(':').map((x) => parseInt(x, 16)));
  const data = spec.up ? { flags: { up: true as const }, change: { up: true as const } } : {};
  return {
    type: RTM.NEWLINK,
    flags: NLM_F.CREATE | NLM_F.EXCL,
    payload: linkPayload(data, attrs),
    op: `create ${spec.kind}`,
    target: spec.ifname,
  };
}

export interface LinkChange {
  mtu?: number;
  /** ifindex of the new master; 0 detaches */
  master?: number;
  up?: boolean;
}

/** RTM_NEWLINK on an existing link (by index) changing MTU, master and/or admin state. */
export function setLinkMsg(index: number, name: string, c: LinkChange): NlMsg {
  const attrs: LinkAttrs = {};
  if (c.mtu !== undefined) attrs.mtu = c.mtu;
  if (c.master !== undefined) attrs.master = c.master;
  const data: Parameters<typeof linkPayload>[0] = { index };
  if (c.up !== undefined) {
    data.change = { up: true };
    data.flags = c.up ? { up: true } : {};
  }
  return { type: RTM.NEWLINK, payload: linkPayload(data, attrs), op: 'set link', target: name };
}

/** Sets bridge port flags (learning, neigh_suppress) on an enslaved link. */
export function portFlagsMsg(index: number, name: string, flags: BridgePortFlags): NlMsg {
  return {
    type: RTM.NEWLINK,
    payload: linkPayload({ index }, { linkinfo: bridgePortInfo(flags) }),
    op: 'set port flags',
    target: name,
  };
}

export function delLinkMsg(index: number, name: string, kind = 'link'): NlMsg {
  return { type: RTM.DELLINK, payload: linkPayload({ index }, {}), op: `delete ${kind}`, target: name };
}

export interface VethPeerSpec {
  ifname: string;
  /** create the peer directly in the namespace of this fd (open('/run/netns/NAME')) */
  netNsFd?: number;
  address?: string;
  mtu?: number;
}

/**
 * IFLA_INFO_DATA for kind `veth`: VETH_INFO_PEER (1) = ifinfomsg + the peer's attributes.
 * Use: newLinkMsg({ ifname: 'frh-…', kind: 'veth', data: vethPeerData({ ifname: 'eth0', netNsFd }), master, mtu, up: true }).
 */
export function vethPeerData(peer: VethPeerSpec): StreamData {
  const attrs: LinkAttrs = { ifname: peer.ifname };
  if (peer.netNsFd !== undefined) attrs.netNsFd = peer.netNsFd;
  if (peer.mtu) attrs.mtu = peer.mtu;
  if (peer.address) attrs.address = Buffer.from(peer.address.split(':').map((x) => parseInt(x, 16)));
  const body = Buffer.concat(linkPayload({}, attrs));
  return (out) => out.push(1, body);
}
