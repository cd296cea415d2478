import { isIP } from 'node:net';
import { Address4, Address6 } from 'ip-address';

/**
 * Which addresses a repository fetch may connect to. A tenant's repository URL is
 * data: by default only globally reachable unicast addresses (ip-address `isGlobal()`,
 * the IANA special-purpose registries) are allowed, so loopback, link-local (cloud
 * metadata 169.254.169.254), RFC 1918, CGNAT 100.64/10, ULA fc00::/7 (fd00:ec2::254),
 * unspecified, multicast, broadcast, documentation and benchmark 198.18/15 (Freight's
 * test underlay) are refused. IPv4-mapped and NAT64 addresses answer for the IPv4
 * address they embed. `allowCidrs` (the admin's `--repo-allow-cidr`) re-admits ranges.
 */
export interface AddressPolicy {
  allowCidrs: readonly string[];
}

export const DEFAULT_ADDRESS_POLICY: AddressPolicy = { allowCidrs: [] };

type Addr = Address4 | Address6;

function parse(ip: string): Addr | undefined {
  const v = isIP(ip);
  if (v === 4) return new Address4(ip);
  if (v === 6) return new Address6(ip.replace(/%.*$/, '')); // a zone id never widens the check
  return undefined;
}

/** `10.0.0.0/8`, `127.0.0.1`, `fd00::/8` → parsed; throws with the offending text otherwise. */
export function parseCidr(cidr: string): Addr {
  const [host, bits] = cidr.trim().split('/');
  const v = isIP(host);
  const max = v === 4 ? 32 : 128;
  const n = bits === undefined ? max : Number(bits);
  if (!v || !/^\d{1,3}$/.test(bits ?? String(max)) || n > max) throw new Error(`allow-list entry ${JSON.stringify(cidr)}: expected an address or CIDR`);
  return v === 4 ? new Address4(`${host}/${n}`) : new Address6(`${host}/${n}`);
}

/** The IPv4 address an IPv6 address reaches (mapped, NAT64 well-known prefix), else itself. */
function effective(a: Addr): Addr {
  return a instanceof Address6 ? (a.embeddedIPv4() ?? a) : a;
}

function inCidr(a: Addr, cidr: Addr): boolean {
  if (a instanceof Address4 && cidr instanceof Address4) return a.isHostInSubnet(cidr);
  if (a instanceof Address6 && cidr instanceof Address6) return a.isHostInSubnet(cidr);
  return false;
}

/** A short name of what the address is, for the controller's log (never for the tenant). */
export function addressKind(ip: string): string {
  const a = parse(ip);
  if (!a) return 'not an address';
  const e = effective(a);
  const checks: Array<[string, () => boolean]> = [
    ['unspecified', () => e.isUnspecified()],
    ['loopback', () => e.isLoopback()],
    ['cloud metadata', () => ['169.254.169.254', 'fd00:ec2::254'].includes(e.correctForm())],
    ['link-local', () => e.isLinkLocal()],
    ['private', () => (e instanceof Address6 ? e.isULA() || e.isPrivate() : e.isPrivate())],
    ['CGNAT', () => e.isCGNAT()],
    ['multicast', () => e.isMulticast()],
    ['broadcast', () => e.isBroadcast()],
    ['benchmark', () => e.isBenchmarking()],
    ['documentation', () => e.isDocumentation()],
  ];
  return checks.find(([, f]) => f())?.[0] ?? (e.isGlobal() ? 'global' : 'special-purpose');
}

/** Whether a fetch may connect to `ip`: a global address, or one the admin's allow-list names. */
export function addressAllowed(ip: string, policy: AddressPolicy, cidrs: readonly Addr[] = policy.allowCidrs.map(parseCidr)): boolean {
  const a = parse(ip);
  if (!a) return false;
  const e = effective(a);
  if (cidrs.some((c) => inCidr(a, c) || inCidr(e, c))) return true;
  return e.isGlobal() && a.isGlobal();
}
