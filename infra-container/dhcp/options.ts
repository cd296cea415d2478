import { ip4Bytes } from '../../protocol/addr.js';
import { InfraError } from '../errors.js';
import { decodeName, encodeNamesCompressed } from '../dns/name.js';

/** DHCP option codes (RFC 2132, 3397, 3046, 3442) and message types. */
export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  NTP: 42,
  MTU: 26,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MSG_TYPE: 53,
  SERVER_ID: 54,
  PARAM_LIST: 55,
  MESSAGE: 56,
  T1: 58,
  T2: 59,
  RELAY_AGENT: 82,
  DOMAIN_SEARCH: 119,
  CLASSLESS_ROUTES: 121,
  END: 255,
} as const;

export const MSG = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;
export const MSG_NAME: Record<number, string> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
};

export type OptionList = Array<[code: number, value: Buffer]>;

export const ipv4 = ip4Bytes;
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
export const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
export const u8 = (n: number): Buffer => Buffer.from([n]);
export const text = (s: string): Buffer => Buffer.from(s, 'latin1');

/** RFC 3442: per route the prefix length, the significant octets of the destination, the router. */
export function classlessRoutes(routes: Array<{ cidr: string; via: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const r of routes) {
    const [dest, len] = r.cidr.split('/');
    const width = Number(len);
    parts.push(Buffer.from([width]), ip4Bytes(dest).subarray(0, Math.ceil(width / 8)), ip4Bytes(r.via));
  }
  return Buffer.concat(parts);
}

/** RFC 3397: the search list as DNS names, pointers relative to the start of the option data. */
export function encodeDomainSearch(domains: string[], compress = true): Buffer {
  return encodeNamesCompressed(domains, compress, 0);
}

export function decodeDomainSearch(data: Buffer): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    const n = decodeName(data, pos, 0, data.length);
    out.push(n.name);
    pos = n.end;
  }
  return out;
}

/** Encodes options then END; values over 255 bytes are split into consecutive instances (RFC 3396). */
export function encodeOptions(list: OptionList): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of list) {
    if (value.length === 0) parts.push(Buffer.from([code, 0]));
    for (let i = 0; i < value.length; i += 255) {
      const chunk = value.subarray(i, i + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  parts.push(Buffer.from([OPT.END]));
  return Buffer.concat(parts);
}

/** Parses an options area into `into`, concatenating repeated codes (RFC 3396). */
export function parseOptions(buf: Buffer, start: number, end: number, into: Map<number, Buffer>): void {
  let pos = start;
  while (pos < end) {
    const code = buf[pos];
    if (code === OPT.END) return;
    if (code === OPT.PAD) {
      pos++;
      continue;
    }
    if (pos + 1 >= end) throw new InfraError('dhcp_malformed', `parse dhcp option ${code}: truncated length`);
    const len = buf[pos + 1];
    if (pos + 2 + len > end) throw new InfraError('dhcp_malformed', `parse dhcp option ${code}: truncated value`);
    const value = buf.subarray(pos + 2, pos + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, value]) : value);
    pos += 2 + len;
  }
  // running off the end without END is tolerated: many clients pad instead
}
