/**
 * IPAM pure helpers: the reserved infra address and MAC derivation (address arithmetic
 * is protocol/addr.ts). The SQL side (controller/store/alloc.ts) uses these under a row lock.
 */
import { Address4 } from 'ip-address';
import { hostRange, inCidr, intToIp4, ip4ToInt, parseCidr, parseIp } from '../protocol/addr.js';
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

/** Why a chosen address cannot be a container's: 400 (not a usable address here) or 409 (held by the network itself). */
export interface ChosenProblem {
  code: 'invalid' | 'address_reserved';
  why: string;
}

/**
 * Checks a chosen address (docker --ip, Neutron --fixed-ip) against the network, with `ip-address`:
 * inside the CIDR and, when the network has pools, inside one of them; not the network or broadcast
 * address; not the gateway or the infra instance's address. Whether a container holds it is the
 * store's question (alloc.ts). Pure.
 */
export function chosenAddressProblem(
  ip: string,
  net: { cidr: string; gateway?: string | null; pools?: readonly AddressPool[] },
): ChosenProblem | null {
  const a = parseIp(ip);
  const cidr = parseCidr(net.cidr);
  if (!(a instanceof Address4) || !(cidr instanceof Address4)) return { code: 'invalid', why: `${ip} is not an IPv4 address` };
  if (!inCidr(a, cidr)) return { code: 'invalid', why: `${ip} is not in the network's ${net.cidr}` };
  if (a.correctForm() === cidr.startAddress().correctForm()) return { code: 'invalid', why: `${ip} is the network address of ${net.cidr}` };
  if (a.correctForm() === cidr.endAddress().correctForm()) return { code: 'invalid', why: `${ip} is the broadcast address of ${net.cidr}` };
  const pools = net.pools ?? [];
  const n = a.bigInt();
  if (pools.length && !pools.some((p) => n >= new Address4(p.start).bigInt() && n <= new Address4(p.end).bigInt()))
    return {
      code: 'invalid',
      why: `${ip} is outside the network's allocation pools ${pools.map((p) => `${p.start}-${p.end}`).join(', ')}`,
    };
  if (net.gateway && a.correctForm() === new Address4(net.gateway).correctForm())
    return { code: 'address_reserved', why: `${ip} is the network's gateway` };
  if (a.correctForm() === infraAddress(net.cidr, net.gateway, pools))
    return { code: 'address_reserved', why: `${ip} is the address of the network's infra instance (DHCP and DNS)` };
  return null;
}

/**
 * A chosen MAC on an overlay network up to /16 must not look like an automatic one (`02:<vni>:<low
 * 16 bits of an address>`, which is not checked for uniqueness: macFor), unless it is its own address's.
 */
export function chosenMacProblem(mac: string, ip: string, vni: number | null, cidr: string): string | null {
  if (vni === null || hostRange(cidr).prefix < 16) return null;
  const auto = macFor(vni, ip);
  return mac !== auto && mac.slice(0, 11) === auto.slice(0, 11)
    ? `${mac} lies in the network's automatic MAC range ${auto.slice(0, 11)}:xx:xx (chosen MACs must be outside it)`
    : null;
}
