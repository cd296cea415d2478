import { Address6 } from 'ip-address';
import { effectiveIp as effective, inCidr, parseCidr as parseAnyCidr, parseIp as parse, type Ip } from '../protocol/addr.js';

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

/** `10.0.0.0/8`, `127.0.0.1`, `fd00::/8` → parsed; throws with the offending text otherwise. */
export function parseCidr(cidr: string): Ip {
  const c = parseAnyCidr(cidr);
  if (!c) throw new Error(`allow-list entry ${JSON.stringify(cidr)}: expected an address or CIDR`);
  return c;
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
export function addressAllowed(ip: string, policy: AddressPolicy, cidrs: readonly Ip[] = policy.allowCidrs.map(parseCidr)): boolean {
  const a = parse(ip);
  if (!a) return false;
  const e = effective(a);
  if (cidrs.some((c) => inCidr(a, c) || inCidr(e, c))) return true;
  return e.isGlobal() && a.isGlobal();
}
