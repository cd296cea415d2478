/**
 * GENEVE tunnel devices. The geneve driver has no per-destination FDB, so a device reaches
 * exactly one remote; the kernel demultiplexes received packets by (VNI, source address),
 * so several devices with the same VNI and different remotes coexist. The dataplane makes
 * one device per remote peer, `frg<vni hex>-<peer low 20 bits hex>` (names.ts
 * geneveName, dataplane/desired-geneve.ts).
 */
import { newLinkMsg } from './link.js';
import { be16, ifla, ip4, ip4str, type NlMsg } from './netlink.js';

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
