/**
 * Physical network mappings (`--physical-network NAME=IFACE`): parsed, then checked against the
 * kernel at start. The rule (docs/dataplane.md "The uplink rule"): a mapping names a dedicated
 * interface, one without IPv4 or global IPv6 addresses and not a port of another bridge. A flat
 * network makes the interface a bridge port, and an address on a bridge port stops working for
 * the host (the bridge takes its frames); moving the address to the bridge would re-point the
 * host's routes under a running system. So the agent refuses such a mapping at start, naming the
 * address, instead of breaking the host's connectivity later.
 */
import { execFileSync } from 'node:child_process';
import { NAME_RE } from '../../protocol/common.js';
import type { Capabilities } from '../../protocol/stream.js';
import { dumpLinks } from './link.js';
import type { NetlinkGateway } from './netlink.js';

export type PhysicalMappings = Capabilities['physicalNetworks'];

const IFACE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export class MappingError extends Error {
  override readonly name = 'MappingError';
  readonly code = 'physical_network_mapping';
}

/** `NAME=IFACE` strings → name → interface; a repeated name or interface is refused. */
export function parseMappings(specs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of specs) {
    const m = /^([^=]+)=(.+)$/.exec(spec.trim());
    const what = `--physical-network ${spec}`;
    if (!m) throw new MappingError(`${what}: expected NAME=IFACE, e.g. datacenter=eth1`);
    const [, name, iface] = m;
    if (!NAME_RE.test(name)) throw new MappingError(`${what}: ${name} is not a name (lower-case letters, digits, inner dashes)`);
    if (!IFACE_RE.test(iface)) throw new MappingError(`${what}: ${iface} is not an interface name`);
    if (iface.startsWith('fr')) throw new MappingError(`${what}: fr-prefixed interfaces are Freight's own`);
    if (out.has(name)) throw new MappingError(`${what}: ${name} is mapped twice`);
    const other = [...out].find(([, i]) => i === iface);
    if (other) throw new MappingError(`${what}: ${iface} is already mapped to ${other[0]} (one physical network per interface)`);
    out.set(name, iface);
  }
  return out;
}

/** The addresses that would break: IPv4 and IPv6 other than link-local. Equivalent to `ip -j addr show dev IFACE`. */
export function hostAddresses(iface: string): string[] {
  const text = execFileSync('ip', ['-j', 'addr', 'show', 'dev', iface], { encoding: 'utf8', timeout: 10_000 });
  const links = JSON.parse(text || '[]') as Array<{
    addr_info?: Array<{ family: string; local: string; prefixlen: number; scope: string }>;
  }>;
  return links
    .flatMap((l) => l.addr_info ?? [])
    .filter((a) => a.family === 'inet' || (a.family === 'inet6' && a.scope !== 'link'))
    .map((a) => `${a.local}/${a.prefixlen}`);
}

/** Checks each mapping against the kernel (exists, dedicated) and reads its MTU; throws MappingError naming what is wrong. */
export async function resolveMappings(
  gw: NetlinkGateway,
  mappings: ReadonlyMap<string, string>,
  addresses: (iface: string) => string[] = hostAddresses,
): Promise<PhysicalMappings> {
  if (mappings.size === 0) return {};
  const links = await dumpLinks(gw);
  const byIndex = new Map(links.map((l) => [l.index, l.name]));
  const out: PhysicalMappings = {};
  for (const [name, iface] of mappings) {
    const what = `--physical-network ${name}=${iface}`;
    const l = links.find((x) => x.name === iface);
    if (!l) throw new MappingError(`${what}: no interface ${iface} on this node`);
    const master = l.master !== undefined ? byIndex.get(l.master) : undefined;
    if (master && !master.startsWith('fr')) throw new MappingError(`${what}: ${iface} is a port of ${master}; name a dedicated interface`);
    const addrs = addresses(iface);
    if (addrs.length)
      throw new MappingError(
        `${what}: ${iface} has address ${addrs.join(', ')}; a physical network needs a dedicated interface ` +
          '(as a bridge port the address would stop working for this host): move the address or map another interface',
      );
    out[name] = { interface: iface, mtu: l.mtu };
  }
  return out;
}
