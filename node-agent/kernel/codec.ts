/**
 * Byte-level helpers shared by the encoder files (one per kernel object kind).
 * Buffers stay in node-agent/kernel/; everything above speaks strings and numbers.
 */
import nl from 'netlink';
import { ip4Bytes, readIp4 } from '../../protocol/addr.js';

export const { rt, ifla, AttrStream, formatAttribute, formatMessage, parseMessages, parseError } = nl;
export type StreamData = nl.StreamData;
export type LinkMessage = nl.rt.LinkMessage;
export type LinkAttrs = nl.ifla.LinkAttrs;
export type NeighborMessage = nl.rt.NeighborMessage;
export type NetlinkMessage = nl.NetlinkMessage;

export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const NLA_F_NESTED = 0x8000;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
} as const;

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  GETNEIGH: 30,
} as const;

/** rtnetlink multicast groups (linux/rtnetlink.h RTNLGRP_*). */
export const RTNLGRP = { LINK: 1, NEIGH: 3 } as const;

/** Flattens attribute stream data into one Buffer. */
export function toBuf(sd: StreamData): Buffer {
  const a = new AttrStream();
  a.emit(sd);
  return Buffer.concat(a.bufs);
}

export const ip4 = (s: string): Buffer => ip4Bytes(s);

export function ip4str(b: Uint8Array | undefined): string | undefined {
  return b && b.length >= 4 ? readIp4(b) : undefined;
}

export function macBuf(s: string): Buffer {
  const parts = s.split(':').map((x) => parseInt(x, 16));
  if (parts.length !== 6 || parts.some((p) => !(p >= 0 && p <= 255))) throw new TypeError(`not a MAC: ${s}`);
  return Buffer.from(parts);
}

export function macStr(b: Uint8Array | undefined): string | undefined {
  if (!b || b.length !== 6) return undefined;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** IFLA_LINKINFO for a link kind (bridge, vxlan, geneve, veth …) with optional IFLA_INFO_DATA. */
export function linkInfo(kind: string, data?: StreamData): Buffer {
  return toBuf(ifla.formatInfo({ kind, data: data === undefined ? undefined : toBuf(data) }));
}

export interface BridgePortFlags {
  learning?: boolean;
  neighSuppress?: boolean;
  /** isolated ports never forward to each other (split horizon between per-peer tunnels) */
  isolated?: boolean;
}

/**
 * IFLA_LINKINFO carrying only bridge-port (slave) data: sent in an RTM_NEWLINK on an
 * existing port, it sets port flags. The library's own `protinfo` map lacks the
 * NLA_F_NESTED bit and is refused with EINVAL.
 */
export function bridgePortInfo(flags: BridgePortFlags): Buffer {
  const port: nl.ifla.BridgePort = {};
  if (flags.learning !== undefined) port.learning = flags.learning ? 1 : 0;
  if (flags.neighSuppress !== undefined) port.neighSuppress = Buffer.from([flags.neighSuppress ? 1 : 0]);
  if (flags.isolated !== undefined) port.isolated = Buffer.from([flags.isolated ? 1 : 0]);
  return toBuf(ifla.formatInfo({ slaveKind: 'bridge', slaveData: toBuf(ifla.formatBridgePort(port)) }));
}

/** Payload (ifinfomsg + attributes) of a link message. */
export function linkPayload(data: nl.rt.Link, attrs: LinkAttrs): Uint8Array[] {
  const a = new AttrStream();
  rt.formatLinkMessage({ kind: 'link', data, attrs }, a);
  return a.bufs;
}

/** Payload (ndmsg + attributes) of a neighbour / FDB message. */
export function neighPayload(data: nl.rt.Neighbor, attrs: nl.rt.NeighborAttrs): Uint8Array[] {
  const a = new AttrStream();
  rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, a);
  return a.bufs;
}

export interface LinkKindInfo {
  kind?: string;
  data?: Buffer;
  slaveKind?: string;
  slaveData?: Buffer;
}

export function parseLinkKind(m: LinkMessage): LinkKindInfo {
  if (!m.attrs.linkinfo) return {};
  try {
    return ifla.parseInfo(m.attrs.linkinfo);
  } catch {
    return {};
  }
}
