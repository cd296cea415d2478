import { CLASS, FLAG, RCODE, TYPE, UDP_ADVERTISED, UDP_MAX, UDP_MIN } from './constants.js';
import type { Query } from './query.js';
import { negative, type Precomputed, type ZoneIndex } from './zone.js';

export type Answer = { kind: 'response'; rcode: number; packet: Buffer } | { kind: 'forward' };

const EMPTY: Precomputed = { rcode: 0, an: 0, ns: 0, ar: 0, body: Buffer.alloc(0) };
const OPT_LEN = 11;

/**
 * Answers one query from the zone index. `raw` is the query packet (its
 * header and question are echoed); `transport` decides the size limit.
 * Names outside the zone: `forward` when upstreams are configured, else REFUSED.
 */
export function answer(zone: ZoneIndex, q: Query, raw: Buffer, transport: 'udp' | 'tcp'): Answer {
  if (q.edns && q.edns.version > 0) return respond(zone, q, raw, { ...EMPTY, rcode: 16 }, transport, false);
  if (q.opcode !== 0) return respond(zone, q, raw, { ...EMPTY, rcode: RCODE.NOTIMP }, transport, false);
  if (q.qclass !== CLASS.IN && q.qclass !== CLASS.ANY) return respond(zone, q, raw, { ...EMPTY, rcode: RCODE.REFUSED }, transport, false);
  const entry = zone.names.get(q.key);
  if (entry) {
    const pre = q.qtype === TYPE.ANY ? entry.any : (entry.byType.get(q.qtype) ?? entry.nodata);
    return respond(zone, q, raw, pre, transport, true);
  }
  if (under(q, zone.apexKey)) return respond(zone, q, raw, negative(zone, q.key, 'forward', RCODE.NXDOMAIN), transport, true);
  if (under(q, zone.reverseKey)) return respond(zone, q, raw, negative(zone, q.key, 'reverse', RCODE.NXDOMAIN), transport, true);
  if (zone.upstreams.length > 0) return { kind: 'forward' };
  return respond(zone, q, raw, { ...EMPTY, rcode: RCODE.REFUSED }, transport, false);
}

/** True when the qname ends with the zone apex on a label boundary. */
function under(q: Query, apexKey: string): boolean {
  const at = q.key.length - apexKey.length;
  return at > 0 && q.key.endsWith(apexKey) && q.labelStarts.includes(at);
}

function respond(zone: ZoneIndex, q: Query, raw: Buffer, pre: Precomputed, transport: 'udp' | 'tcp', aa: boolean): Answer {
  const limit = transport === 'tcp' ? 0xffff : q.edns ? Math.min(Math.max(q.edns.udpSize, UDP_MIN), UDP_MAX) : UDP_MIN;
  const opt = q.edns ? OPT_LEN : 0;
  let flags = FLAG.QR | (q.flags & 0x7900) | (aa ? FLAG.AA : 0) | (zone.upstreams.length > 0 ? FLAG.RA : 0);
  let body = pre.body;
  let counts = [pre.an, pre.ns, pre.ar];
  if (q.questionEnd + body.length + opt > limit) {
    flags |= FLAG.TC;
    body = EMPTY.body;
    counts = [0, 0, 0];
  }
  const out = Buffer.allocUnsafe(q.questionEnd + body.length + opt);
  raw.copy(out, 0, 0, q.questionEnd);
  out.writeUInt16BE(flags | (pre.rcode & 0xf), 2);
  out.writeUInt16BE(counts[0], 6);
  out.writeUInt16BE(counts[1], 8);
  out.writeUInt16BE(counts[2] + (opt ? 1 : 0), 10);
  body.copy(out, q.questionEnd);
  if (opt) writeOpt(out, q.questionEnd + body.length, pre.rcode >> 4);
  return { kind: 'response', rcode: pre.rcode, packet: out };
}

/** Our OPT: root owner, advertised payload size, extended rcode bits, version 0, no options. */
function writeOpt(out: Buffer, at: number, extRcode: number): void {
  out[at] = 0;
  out.writeUInt16BE(TYPE.OPT, at + 1);
  out.writeUInt16BE(UDP_ADVERTISED, at + 3);
  out.writeUInt32BE((extRcode & 0xff) << 24, at + 5);
  out.writeUInt16BE(0, at + 9);
}
