import { InfraError } from '../../infra-container/errors.js';
import { HEADER_LEN } from '../../infra-container/dns/constants.js';
import { decodeName, encodeName } from '../../infra-container/dns/name.js';

/** Full DNS message decoder/encoder for the tests and the fuzzer (the server's hot path is query.ts/answer.ts). */
export interface Rr {
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
  /** Offset of rdata in the message, to decode names inside it. */
  rdataOffset: number;
}
export interface Message {
  id: number;
  flags: number;
  rcode: number;
  questions: { name: string; type: number; class: number }[];
  answers: Rr[];
  authority: Rr[];
  additional: Rr[];
}

export function parseMessage(buf: Buffer): Message {
  if (buf.length < HEADER_LEN) throw new InfraError('dns_malformed', 'parse message: shorter than a header');
  const counts = [4, 6, 8, 10].map((o) => buf.readUInt16BE(o));
  let pos = HEADER_LEN;
  const questions: Message['questions'] = [];
  for (let i = 0; i < counts[0]; i++) {
    const n = decodeName(buf, pos);
    if (n.end + 4 > buf.length) throw new InfraError('dns_malformed', 'parse message: truncated question');
    questions.push({ name: n.name, type: buf.readUInt16BE(n.end), class: buf.readUInt16BE(n.end + 2) });
    pos = n.end + 4;
  }
  const sections: Rr[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) {
      const n = decodeName(buf, pos);
      if (n.end + 10 > buf.length) throw new InfraError('dns_malformed', 'parse message: truncated record');
      const rdlen = buf.readUInt16BE(n.end + 8);
      const rdataOffset = n.end + 10;
      if (rdataOffset + rdlen > buf.length) throw new InfraError('dns_malformed', 'parse message: truncated rdata');
      sections[s].push({
        name: n.name,
        type: buf.readUInt16BE(n.end),
        class: buf.readUInt16BE(n.end + 2),
        ttl: buf.readUInt32BE(n.end + 4),
        rdata: buf.subarray(rdataOffset, rdataOffset + rdlen),
        rdataOffset,
      });
      pos = rdataOffset + rdlen;
    }
  }
  const flags = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    flags,
    rcode: flags & 0xf,
    questions,
    answers: sections[0],
    authority: sections[1],
    additional: sections[2],
  };
}

export interface QueryOptions {
  id?: number;
  rd?: boolean;
  /** Adds an EDNS0 OPT record advertising this UDP payload size. */
  edns?: number;
}

/** Encodes a one-question query (tests, bench, health checks). */
export function encodeQuery(name: string, type: number, opts: QueryOptions = {}): Buffer {
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16BE(opts.id ?? 0x1234, 0);
  header.writeUInt16BE(opts.rd === false ? 0 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.edns ? 1 : 0, 10);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(1, 2);
  const parts = [header, encodeName(name), q];
  if (opts.edns) {
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(opts.edns, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

/** Decodes a name found inside rdata (PTR, NS, SOA) of a parsed message. */
export function rdataName(buf: Buffer, offset: number): string {
  return decodeName(buf, offset).name;
}
