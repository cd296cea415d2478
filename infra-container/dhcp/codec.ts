import { readIp4, writeIp4 } from '../../protocol/addr.js';
import { InfraError } from '../errors.js';
import { encodeOptions, OPT, parseOptions, type OptionList } from './options.js';

/** A BOOTP/DHCP message (RFC 2131 §2). Addresses are dotted strings; options stay raw. */
export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Hardware address, lower-case colon hex of hlen bytes (a MAC for Ethernet). */
  chaddr: string;
  options: Map<number, Buffer>;
  /** The message as received: a reply copies xid, flags, giaddr and chaddr from it byte for byte. */
  raw: Buffer;
}

export const FIXED_LEN = 236;
const COOKIE = 0x63825363;
const BOOTP_MIN = 300;
export const BROADCAST_FLAG = 0x8000;

export function parseDhcp(buf: Buffer): DhcpPacket {
  if (buf.length < FIXED_LEN + 4) throw new InfraError('dhcp_malformed', `parse dhcp: ${buf.length} bytes, too short`);
  if (buf.readUInt32BE(FIXED_LEN) !== COOKIE) throw new InfraError('dhcp_malformed', 'parse dhcp: no magic cookie');
  const hlen = buf[2];
  if (hlen > 16) throw new InfraError('dhcp_malformed', `parse dhcp: hlen ${hlen} over 16`);
  const options = new Map<number, Buffer>();
  parseOptions(buf, FIXED_LEN + 4, buf.length, options);
  // option overload (RFC 2132 §9.3): options continue in file (1), sname (2) or both (3)
  const overload = options.get(OPT.OVERLOAD)?.[0] ?? 0;
  if (overload & 1) parseOptions(buf, 108, 236, options);
  if (overload & 2) parseOptions(buf, 44, 108, options);
  return {
    op: buf[0],
    htype: buf[1],
    hlen,
    hops: buf[3],
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: readIp4(buf, 12),
    yiaddr: readIp4(buf, 16),
    siaddr: readIp4(buf, 20),
    giaddr: readIp4(buf, 24),
    chaddr: macString(buf, 28, hlen),
    options,
    raw: buf,
  };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function macString(buf: Buffer, at: number, len: number): string {
  let s = len > 0 ? HEX[buf[at]] : '';
  for (let i = 1; i < len; i++) s += ':' + HEX[buf[at + i]];
  return s;
}

/**
 * Encodes a message with the given options (in order) and END, padded to the
 * BOOTP minimum. `options` may be already encoded (END included): the hot path.
 */
export function encodeDhcp(p: Omit<DhcpPacket, 'options' | 'raw'>, options: OptionList | Buffer): Buffer {
  const opts = Buffer.isBuffer(options) ? options : encodeOptions(options);
  const head = Buffer.alloc(Math.max(BOOTP_MIN, FIXED_LEN + 4 + opts.length));
  head[0] = p.op;
  head[1] = p.htype;
  head[2] = p.hlen;
  head[3] = p.hops;
  head.writeUInt32BE(p.xid >>> 0, 4);
  head.writeUInt16BE(p.secs, 8);
  head.writeUInt16BE(p.flags, 10);
  writeIp4(head, 12, p.ciaddr);
  writeIp4(head, 16, p.yiaddr);
  writeIp4(head, 20, p.siaddr);
  writeIp4(head, 24, p.giaddr);
  if (p.chaddr) Buffer.from(p.chaddr.replace(/:/g, ''), 'hex').copy(head, 28, 0, 16);
  head.writeUInt32BE(COOKIE, FIXED_LEN);
  opts.copy(head, FIXED_LEN + 4);
  return head;
}

/**
 * The server's hot path: a reply (op 2, hops and secs 0, siaddr 0) to `req`, its htype, hlen,
 * xid, flags, giaddr and chaddr copied from the raw request rather than re-encoded from strings,
 * `yiaddr` as 4 bytes (null: 0.0.0.0), ciaddr echoed or 0, options already encoded (END included).
 */
export function encodeReply(req: DhcpPacket, yiaddr: Uint8Array | null, echoCiaddr: boolean, options: Buffer): Buffer {
  const raw = req.raw;
  // allocUnsafe takes a slice of Node's pool, then zeroed: cheaper than alloc's own zeroed ArrayBuffer
  const out = Buffer.allocUnsafe(Math.max(BOOTP_MIN, FIXED_LEN + 4 + options.length)).fill(0);
  out[0] = 2;
  out[1] = raw[1];
  out[2] = raw[2];
  for (let i = 4; i < 8; i++) out[i] = raw[i]; // xid
  out[10] = raw[10]; // flags
  out[11] = raw[11];
  if (echoCiaddr) for (let i = 12; i < 16; i++) out[i] = raw[i];
  if (yiaddr) out.set(yiaddr, 16);
  for (let i = 24; i < 28 + raw[2]; i++) out[i] = raw[i]; // giaddr, then hlen bytes of chaddr (parseDhcp checked hlen <= 16)
  out.writeUInt32BE(COOKIE, FIXED_LEN);
  out.set(options, FIXED_LEN + 4);
  return out;
}
