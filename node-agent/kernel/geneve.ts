/**
 * GENEVE tunnel devices `frg-<vni>`. The geneve driver has no per-destination FDB, so a
 * device reaches one remote: the agent points it at the network's single remote VTEP
 * (first of the flood list). Multi-peer geneve needs per-peer devices (known gap).
 */
import { newLinkMsg } from './link.js';
import { be16, ifla, ip4, ip4str, type NlMsg } from './netlink.js';

export const GENEVE_PORT = 6081;

export interface GeneveSpec {
  name: string;
  vni: number;
  remote?: string;
  port: number;
  mtu: number;
  master?: number;
}

export function geneveData(g: { vni: number; remote?: string; port: number }) {
  return ifla.formatGeneve({ id: g.vni, remote: g.remote ? ip4(g.remote) : undefined, port: be16(g.port) });
}

export function createGeneveMsg(g: GeneveSpec): NlMsg {
  return newLinkMsg({ ifname: g.name, kind: 'geneve', data: geneveData(g), mtu: g.mtu, master: g.master, up: true });
}

export interface GeneveInfo {
  vni?: number;
  remote?: string;
  port?: number;
}

export function parseGeneveData(data: Buffer | undefined): GeneveInfo {
  if (!data) return {};
  const g = ifla.parseGeneve(data);
  return { vni: g.id, remote: ip4str(g.remote), port: g.port?.readUInt16BE(0) };
}
