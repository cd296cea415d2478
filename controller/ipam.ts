/**
 * IPAM pure helpers: address arithmetic, host ranges, the reserved infra address,
 * MAC derivation. The SQL side (controller/store/alloc.ts) uses these under a row lock.
 */

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new RangeError(`ipToInt ${ip}: not an IPv4 address`);
  return parts.reduce((acc, p) => {
    const o = Number(p);
    if (!/^\d{1,3}$/.test(p) || o > 255) throw new RangeError(`ipToInt ${ip}: bad octet ${p}`);
    return acc * 256 + o;
  }, 0);
}

export function intToIp(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`intToIp ${n}: out of range`);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface HostRange {
  network: number;
  broadcast: number;
  /** First and last usable host addresses (network + 1, broadcast - 1). */
  first: number;
  last: number;
  prefix: number;
}

export function hostRange(cidr: string): HostRange {
  const [addr, p] = cidr.split('/');
  const prefix = Number(p);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 30) throw new RangeError(`hostRange ${cidr}: prefix must be 0..30`);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ipToInt(addr) / size) * size;
  return { network, broadcast: network + size - 1, first: network + 1, last: network + size - 2, prefix };
}

/** The infra instance's reserved address: the highest host address that is not the gateway. */
export function infraAddress(cidr: string, gateway?: string | null): string {
  const r = hostRange(cidr);
  const gw = gateway ? ipToInt(gateway) : -1;
  return intToIp(r.last === gw ? r.last - 1 : r.last);
}

/** Addresses never handed to containers: gateway and infra (network and broadcast are outside first..last). */
export function reservedAddresses(cidr: string, gateway?: string | null): number[] {
  const res = [ipToInt(infraAddress(cidr, gateway))];
  if (gateway) res.push(ipToInt(gateway));
  return res;
}

/** Lowest address in `range` that is neither used nor reserved; `used` sorted ascending. Null = pool exhausted. */
export function firstFree(range: HostRange, usedSorted: number[], reserved: number[]): number | null {
  const taken = new Set<number>([...usedSorted, ...reserved]);
  for (let a = range.first; a <= range.last; a++) if (!taken.has(a)) return a;
  return null;
}

/** Usable addresses for containers (host range minus gateway and infra). */
export function poolSize(cidr: string, gateway?: string | null): number {
  const r = hostRange(cidr);
  return r.last - r.first + 1 - reservedAddresses(cidr, gateway).length;
}

const hex = (n: number) => n.toString(16).padStart(2, '0');

/**
 * Locally administered unicast MAC from the VNI (24 bits) and the low 16 bits of the
 * address: unique per network up to /16; larger networks fall back to `randomMac`.
 */
export function macFor(vni: number, ip: string): string {
  const a = ipToInt(ip);
  return ['02', hex((vni >>> 16) & 255), hex((vni >>> 8) & 255), hex(vni & 255), hex((a >>> 8) & 255), hex(a & 255)].join(':');
}

/** A random locally administered unicast MAC from 5 random bytes. */
export function randomMac(bytes: Uint8Array): string {
  return ['02', ...Array.from(bytes.slice(0, 5), hex)].join(':');
}

/** Lowest VNI in 1..16777215 not in `usedSorted` (ascending). Null when all are taken. */
export function lowestFreeVni(usedSorted: number[]): number | null {
  let want = 1;
  for (const v of usedSorted) {
    if (v > want) break;
    if (v === want) want++;
  }
  return want <= 16_777_215 ? want : null;
}
