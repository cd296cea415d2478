/**
 * DNS answers decoded by dns-packet: an independent decoder, so a bug in the server's own codec
 * (infra-container/dns) cannot hide in a test that decodes with the same code. Numbers as on the
 * wire (type, class, rcode, the header's flags) so assertions read like the RFC.
 */
import dnsPacket from 'dns-packet';

const TYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, OPT: 41, ANY: 255 };
const CLASSES: Record<string, number> = { IN: 1, CS: 2, CH: 3, HS: 4, ANY: 255 };
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export interface DecodedRr {
  name: string;
  type: number;
  /** For OPT, the advertised UDP payload size (what the class field holds). */
  class: number;
  ttl: number;
  /** dns-packet's decoded data: an address or name string (A, AAAA, PTR, NS), an object (SOA), … */
  data: any;
}
export interface DecodedMessage {
  id: number;
  flags: number;
  rcode: number;
  questions: { name: string; type: number; class: number }[];
  answers: DecodedRr[];
  authority: DecodedRr[];
  additional: DecodedRr[];
}

const num = (table: Record<string, number>, s: string | undefined): number => {
  if (s === undefined) return NaN;
  if (s in table) return table[s];
  const m = /(\d+)$/.exec(s); // dns-packet names unknown types/classes UNKNOWN_<n>
  return m ? Number(m[1]) : NaN;
};

function rr(r: any): DecodedRr {
  const type = num(TYPES, r.type);
  return { name: r.name, type, class: r.type === 'OPT' ? r.udpPayloadSize : num(CLASSES, r.class), ttl: r.ttl ?? 0, data: r.data };
}

export function decodeAnswer(buf: Buffer): DecodedMessage {
  const p = dnsPacket.decode(buf) as any;
  const rcode = RCODES.indexOf(p.rcode);
  return {
    id: p.id,
    flags: (p.flag_qr ? 0x8000 : 0) | p.flags,
    rcode: rcode >= 0 ? rcode : buf.readUInt16BE(2) & 0xf,
    questions: (p.questions ?? []).map((q: any) => ({ name: q.name, type: num(TYPES, q.type), class: num(CLASSES, q.class) })),
    answers: (p.answers ?? []).map(rr),
    authority: (p.authorities ?? []).map(rr),
    additional: (p.additionals ?? []).map(rr),
  };
}
