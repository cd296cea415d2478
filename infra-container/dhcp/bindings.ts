import { ip4ToInt, mask4, maskString4, parseCidr4 } from '../../protocol/addr.js';
import type { InfraConfig } from '../../protocol/infra-config.js';
import { classlessRoutes, encodeDomainSearch, encodeOptions, ipv4, MSG, OPT, text, u16, u32, u8, type OptionList } from './options.js';

export interface Binding {
  ip: string;
  /** `ip` as the 4 bytes of yiaddr. */
  ipBytes: Buffer;
  name: string;
  /** Encoded option areas (END included) of this client's OFFER, ACK and INFORM ACK. */
  offer: Buffer;
  ack: Buffer;
  inform: Buffer;
}

/** What the DHCP handler needs, compiled once per config: bindings by MAC and the shared options. */
export interface DhcpIndex {
  serverIp: string;
  leaseSeconds: number;
  byMac: Map<string, Binding>;
  /** Network options sent in every OFFER/ACK (1, 3, 6, 15, 119, 26), already encoded. */
  network: OptionList;
  cidrBase: number;
  cidrMask: number;
}

export function buildDhcpIndex(config: InfraConfig): DhcpIndex {
  const { addr: base, prefix } = parseCidr4(config.network.cidr);
  const network: OptionList = [[OPT.SUBNET_MASK, ipv4(maskString4(prefix))]];
  if (config.network.gateway) network.push([OPT.ROUTER, ipv4(config.network.gateway)]);
  // the network's own options (PATCH dhcpOptions) after the built-in ones: its name server and zone first
  const extra = config.dhcpOptions ?? {};
  // RFC 3442: a client that takes option 121 ignores option 3, so with router routes the default route goes in too;
  // the network's own routes are sent as given (it adds 0.0.0.0/0 itself when it wants one)
  const own = (extra.routes ?? []).map((r) => ({ cidr: r.destination, via: r.gateway }));
  const routed = config.network.gateway && config.network.routes.length > 0;
  const routes = routed ? [...config.network.routes, ...own, { cidr: '0.0.0.0/0', via: config.network.gateway! }] : own;
  if (routes.length > 0) network.push([OPT.CLASSLESS_ROUTES, classlessRoutes(routes)]);
  network.push(
    [OPT.DNS, ipv4(config.server.ip, ...(extra.dns ?? []))],
    [OPT.DOMAIN_NAME, text(config.network.zone)],
    [OPT.DOMAIN_SEARCH, encodeDomainSearch([config.network.zone, ...(extra.search ?? [])])],
    [OPT.MTU, u16(config.network.mtu)],
  );
  if (extra.ntp?.length) network.push([OPT.NTP, ipv4(...extra.ntp)]);
  const index: DhcpIndex = {
    serverIp: config.server.ip,
    leaseSeconds: config.leaseSeconds,
    byMac: new Map(),
    network,
    cidrBase: base,
    cidrMask: mask4(prefix),
  };
  // the replies' options depend only on the binding: encode them once per config
  for (const b of config.bindings) {
    const opts = (type: number, lease: boolean): Buffer => encodeOptions(replyOptions(index, type, lease, b.name));
    index.byMac.set(b.mac.toLowerCase(), {
      ip: b.ip,
      ipBytes: ipv4(b.ip),
      name: b.name,
      offer: opts(MSG.OFFER, true),
      ack: opts(MSG.ACK, true),
      inform: opts(MSG.ACK, false),
    });
  }
  return index;
}

/** Options of an OFFER/ACK, in the order sent; `lease` false for an INFORM answer. */
export function replyOptions(index: DhcpIndex, type: number, lease: boolean, name: string): OptionList {
  const options: OptionList = [
    [OPT.MSG_TYPE, u8(type)],
    [OPT.SERVER_ID, ipv4(index.serverIp)],
  ];
  if (lease) {
    const l = index.leaseSeconds;
    options.push([OPT.LEASE_TIME, u32(l)], [OPT.T1, u32(Math.floor(l / 2))], [OPT.T2, u32(Math.floor((l * 7) / 8))]);
  }
  options.push(...index.network, [OPT.HOSTNAME, text(name)]);
  return options;
}

export function inNetwork(index: DhcpIndex, ip: string): boolean {
  return (ip4ToInt(ip) & index.cidrMask) >>> 0 === index.cidrBase;
}
