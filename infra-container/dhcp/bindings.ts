import type { InfraConfig } from '../../protocol/infra-config.js';
import { encodeDomainSearch, ipv4, OPT, text, u16, type OptionList } from './options.js';

/** What the DHCP handler needs, compiled once per config: bindings by MAC and the shared options. */
export interface DhcpIndex {
  serverIp: string;
  leaseSeconds: number;
  byMac: Map<string, { ip: string; name: string }>;
  /** Network options sent in every OFFER/ACK (1, 3, 6, 15, 119, 26), already encoded. */
  network: OptionList;
  cidrBase: number;
  cidrMask: number;
}

const toInt = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
export const maskOf = (prefix: number): string => {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
};

export function buildDhcpIndex(config: InfraConfig): DhcpIndex {
  const [base, len] = config.network.cidr.split('/');
  const prefix = Number(len);
  const network: OptionList = [[OPT.SUBNET_MASK, ipv4(maskOf(prefix))]];
  if (config.network.gateway) network.push([OPT.ROUTER, ipv4(config.network.gateway)]);
  network.push(
    [OPT.DNS, ipv4(config.server.ip)],
    [OPT.DOMAIN_NAME, text(config.network.zone)],
    [OPT.DOMAIN_SEARCH, encodeDomainSearch([config.network.zone])],
    [OPT.MTU, u16(config.network.mtu)],
  );
  return {
    serverIp: config.server.ip,
    leaseSeconds: config.leaseSeconds,
    byMac: new Map(config.bindings.map((b) => [b.mac.toLowerCase(), { ip: b.ip, name: b.name }])),
    network,
    cidrBase: toInt(base),
    cidrMask: (0xffffffff << (32 - prefix)) >>> 0,
  };
}

export function inNetwork(index: DhcpIndex, ip: string): boolean {
  return ((toInt(ip) & index.cidrMask) >>> 0) === index.cidrBase;
}
