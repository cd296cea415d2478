import { InfraError } from '../errors.js';
import { FLAG, HEADER_LEN, TYPE } from './constants.js';
import { decodeName, lowerKey } from './name.js';

/** A parsed query: what `answer` needs, with offsets into the raw packet. */
export interface Query {
  id: number;
  flags: number;
  opcode: number;
  /** Lower-cased wire form of QNAME (Map key of the zone index). */
  key: string;
  /** Offsets (relative to the QNAME start) where each label starts. */
  labelStarts: number[];
  qtype: number;
  qclass: number;
  /** Offset just after the question: header + question are echoed verbatim. */
  questionEnd: number;
  /** EDNS0 OPT of the query, if any. */
  edns: { udpSize: number; version: number } | null;
}

/**
 * Parses a query. Not a query (QR set), or shorter than a header: dns_malformed
 * (dropped). Header intact but the rest unusable: dns_formerr (answer FORMERR).
 */
export function parseQuery(buf: Buffer): Query {
  if (buf.length < HEADER_LEN) throw new InfraError('dns_malformed', `parse query: ${buf.length} bytes, shorter than a header`);
  const flags = buf.readUInt16BE(2);
  if (flags & FLAG.QR) throw new InfraError('dns_malformed', 'parse query: QR set, a response');
  if (buf.readUInt16BE(4) !== 1) throw new InfraError('dns_formerr', `parse query: qdcount ${buf.readUInt16BE(4)}, want 1`);
  const labelStarts: number[] = [];
  let pos = HEADER_LEN;
  for (;;) {
    if (pos >= buf.length) throw new InfraError('dns_formerr', 'parse query: truncated qname');
    const len = buf[pos];
    if (len === 0) break;
    if (len > 63) throw new InfraError('dns_formerr', 'parse query: compressed or bad label in qname');
    labelStarts.push(pos - HEADER_LEN);
    pos += 1 + len;
    if (pos - HEADER_LEN > 254) throw new InfraError('dns_formerr', 'parse query: qname longer than 255 bytes');
  }
  const nameEnd = pos + 1;
  if (nameEnd + 4 > buf.length) throw new InfraError('dns_formerr', 'parse query: truncated question');
  const questionEnd = nameEnd + 4;
  return {
    id: buf.readUInt16BE(0),
    flags,
    opcode: (flags >> 11) & 0xf,
    key: lowerKey(buf, HEADER_LEN, nameEnd),
    labelStarts,
    qtype: buf.readUInt16BE(nameEnd),
    qclass: buf.readUInt16BE(nameEnd + 2),
    questionEnd,
    edns: findOpt(buf, questionEnd),
  };
}

/** Walks answer, authority and additional sections looking for the OPT pseudo-record. */
function findOpt(buf: Buffer, start: number): Query['edns'] {
  const count = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  if (count === 0) return null;
  let pos = start;
  let found: Query['edns'] = null;
  for (let i = 0; i < count; i++) {
    // the OPT owner is the root: one zero byte, no name to decode
    pos = buf[pos] === 0 ? pos + 1 : decodeName(buf, pos).end;
    if (pos + 10 > buf.length) throw new InfraError('dns_formerr', 'parse query: truncated record');
    const type = buf.readUInt16BE(pos);
    const rdlen = buf.readUInt16BE(pos + 8);
    if (type === TYPE.OPT) {
      if (found) throw new InfraError('dns_formerr', 'parse query: two OPT records');
      found = { udpSize: buf.readUInt16BE(pos + 2), version: buf[pos + 5] };
    }
    pos += 10 + rdlen;
    if (pos > buf.length) throw new InfraError('dns_formerr', 'parse query: truncated rdata');
  }
  return found;
}
