/**
 * IPAM pure helpers: the reserved infra address and MAC derivation (address arithmetic
 * is protocol/addr.ts). The SQL side (controller/store/alloc.ts) uses these under a row lock.
 */
import { hostRange, intToIp4, ip4ToInt } from '../protocol/addr.js';
import type { AddressPool } from '../protocol/network-params.js';

/**
 * The infra instance's reserved address: the highest address that is not the gateway, of the
 * highest pool when the network has pools (a physical segment's other addresses are not ours),
 * else of the host range.
 */
export function infraAddress(cidr: string, gateway?: string | null, pools: readonly AddressPool[] = []): string {
  const r = hostRange(cidr);
  const last = pools.length ? Math.max(...pools.map((p) => ip4ToInt(p.end))) : r.last;
  const gw = gateway ? ip4ToInt(gateway) : -1;
  return intToIp4(last === gw ? last - 1 : last);
}

/** The ranges addresses are allocated from: the pools, else the whole host range (as integers). */
export function allocationRanges(cidr: string, pools: readonly AddressPool[] = []): Array<{ first: number; last: number }> {
  if (!pools.length) {
    const r = hostRange(cidr);
    return [{ first: r.first, last: r.last }];
  }
  return pools.map((p) => ({ first: ip4ToInt(p.start), last: ip4ToInt(p.end) })).sort((a, b) => a.first - b.first);
}

/** Addresses never handed to containers: gateway and infra (network and broadcast are outside first..last). */
export function reservedAddresses(cidr: string, gateway?: string | null, pools: readonly AddressPool[] = []): number[] {
  const res = [ip4ToInt(infraAddress(cidr, gateway, pools))];
  if (gateway) res.push(ip4ToInt(gateway));
  return res;
}

const hex = (n: number) => n.toString(16).padStart(2, '0');

/**
 * Locally administered unicast MAC from the VNI (24 bits) and the low 16 bits of the
 * address: unique per network up to /16; larger networks fall back to `randomMac`.
 */
export function macFor(vni: number, ip: string): string {
  const a = ip4ToInt(ip);
  return ['02', hex((vni >>> 16) & 255), hex((vni >>> 8) & 255), hex(vni & 255), hex((a >>> 8) & 255), hex(a & 255)].join(':');
}

/** A random locally administered unicast MAC from 5 random bytes. */
export function randomMac(bytes: Uint8Array): string {
  return ['02', ...Array.from(bytes.slice(0, 5), hex)].join(':');
}
