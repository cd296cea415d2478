import { Address4, Address6 } from 'ip-address';

/**
 * Freight's one address module, shared by controller, node agent, infra container and
 * images: parsing, formatting, ranges, masks, host counts and reverse (PTR) names.
 * Addresses, CIDRs and IPv6 go through `ip-address`; the IPv4 ⇄ uint32 conversion the
 * DHCP/DNS codecs and the netlink encoders call per packet or per entry is the one
 * hand-written dotted-quad parser, strict like `ip-address` (addr.test.ts holds them
 * to the same answers): tens of times faster than constructing an `Address4` (docs/dependencies.md).
 */

export type Ip = Address4 | Address6;

/** A string that is not the address it should be; a RangeError like the checks it replaced. */
export class AddressError extends RangeError {
  override name = 'AddressError';
}

const bad = (s: string, why: string): AddressError => new AddressError(`not an IPv4 address: ${s} (${why})`);

/** `a.b.c.d` → uint32; four decimal octets 0..255 without leading zeros, nothing else. */
export function ip4ToInt(s: string): number {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) throw bad(s, 'empty octet');
      n = n * 256 + octet;
      octet = digits = 0;
      if (++dots > 3) throw bad(s, 'more than 4 parts');
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) throw bad(s, 'leading zero');
      octet = octet * 10 + (c - 48);
      if (octet > 255 || ++digits > 3) throw bad(s, `bad octet ${s.split('.')[dots]}`);
    } else throw bad(s, `bad octet ${s.split('.')[dots]}`);
  }
  if (dots !== 3) throw bad(s, `${dots + 1} parts`);
  if (digits === 0) throw bad(s, 'empty octet');
  return n * 256 + octet;
}

export function isIp4(s: string): boolean {
  try {
    ip4ToInt(s);
    return true;
  } catch {
    return false;
  }
}

/** uint32 → `a.b.c.d`. */
export function intToIp4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new AddressError(`intToIp4 ${n}: out of range`);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Writes the 4 network-order bytes of `s` at `out[at..at+3]`. */
export function writeIp4(out: Uint8Array, at: number, s: string): void {
  const n = ip4ToInt(s);
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 255;
  out[at + 2] = (n >>> 8) & 255;
  out[at + 3] = n & 255;
}

/** The 4 network-order bytes of each address, concatenated. */
export function ip4Bytes(...ips: string[]): Buffer {
  const b = Buffer.alloc(4 * ips.length);
  ips.forEach((ip, i) => writeIp4(b, 4 * i, ip));
  return b;
}

/** 4 bytes at `b[at..]` → `a.b.c.d`. */
export const readIp4 = (b: Uint8Array, at = 0): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/** Netmask of a prefix length as uint32 (/0 → 0). */
export const mask4 = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
export const maskString4 = (prefix: number): string => intToIp4(mask4(prefix));

/** `10.1.2.0/24` → address and prefix length; the address may have host bits. */
export function parseCidr4(cidr: string): { addr: number; prefix: number } {
  if (!cidr.includes('/')) throw new AddressError(`not an IPv4 CIDR: ${cidr} (no prefix length)`);
  let a: Address4;
  try {
    a = new Address4(cidr);
  } catch {
    throw new AddressError(`not an IPv4 CIDR: ${cidr}`);
  }
  return { addr: ip4ToInt(a.addressMinusSuffix), prefix: a.subnetMask };
}

/** Whether `cidr` names a network: no host bits set below its prefix. */
export function isNetwork4(cidr: string): boolean {
  const { addr, prefix } = parseCidr4(cidr);
  return (addr & mask4(prefix)) >>> 0 === addr;
}

export interface HostRange {
  network: number;
  broadcast: number;
  /** First and last usable host addresses (network + 1, broadcast - 1). */
  first: number;
  last: number;
  prefix: number;
}

/** Network, broadcast and usable host addresses of an IPv4 CIDR (/0 to /30). */
export function hostRange(cidr: string): HostRange {
  const prefix = Number(cidr.split('/')[1]);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 30) throw new AddressError(`hostRange ${cidr}: prefix must be 0..30`);
  const network = (parseCidr4(cidr).addr & mask4(prefix)) >>> 0;
  const size = 2 ** (32 - prefix);
  return { network, broadcast: network + size - 1, first: network + 1, last: network + size - 2, prefix };
}

/** Usable host addresses of a CIDR (network and broadcast excluded). */
export const hostCount = (cidr: string): number => {
  const r = hostRange(cidr);
  return r.last - r.first + 1;
};

/** IPv4 or IPv6 address (an IPv6 zone id dropped: it never changes what is reached); undefined otherwise. */
export function parseIp(ip: string): Ip | undefined {
  if (isIp4(ip)) return new Address4(ip);
  const v6 = ip.replace(/%.*$/, '');
  return ip.includes(':') && Address6.isValid(v6) && !v6.includes('/') ? new Address6(v6) : undefined;
}

/** `10.0.0.0/8`, `127.0.0.1`, `fd00::/8` → parsed (a bare address is its /32 or /128); undefined otherwise. */
export function parseCidr(cidr: string): Ip | undefined {
  const [host, bits, ...rest] = cidr.trim().split('/');
  const a = parseIp(host);
  if (!a || rest.length) return undefined;
  const max = a instanceof Address4 ? 32 : 128;
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) return undefined;
  const n = bits === undefined ? max : Number(bits);
  return a instanceof Address4 ? new Address4(`${a.address}/${n}`) : new Address6(`${a.address}/${n}`);
}

/** Whether `a` lies in `cidr`; false across families. */
export function inCidr(a: Ip, cidr: Ip): boolean {
  if (a instanceof Address4 && cidr instanceof Address4) return a.isHostInSubnet(cidr);
  if (a instanceof Address6 && cidr instanceof Address6) return a.isHostInSubnet(cidr);
  return false;
}

/** The IPv4 address an IPv6 address reaches (IPv4-mapped, NAT64 well-known prefix), else itself. */
export const effectiveIp = (a: Ip): Ip => (a instanceof Address6 ? (a.embeddedIPv4() ?? a) : a);

/** `10.1.2.3` → `3.2.1.10.in-addr.arpa`; IPv6 → its nibble `ip6.arpa` name. */
export function reverseName(ip: string): string {
  const a = parseIp(ip);
  if (!a) throw new AddressError(`reverse name of ${ip}: not an address`);
  return a instanceof Address4 ? `${a.reverseForm({ omitSuffix: true })}.in-addr.arpa` : a.reverseForm({ omitSuffix: true }) + '.ip6.arpa';
}

/** `10.1.2.0/24` → `2.1.10.in-addr.arpa`: the whole octets of the prefix (at least one). */
export function reverseZone4(cidr: string): string {
  const { addr, prefix } = parseCidr4(cidr);
  const octets = intToIp4(addr)
    .split('.')
    .slice(0, Math.max(1, Math.floor(prefix / 8)));
  return `${octets.reverse().join('.')}.in-addr.arpa`;
}
