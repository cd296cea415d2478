/**
 * Actual state from kernel dumps. Only objects the dataplane owns are read: links named
 * frb-/frx-/frg-, FDB entries on those tunnels (self entries, and static master entries),
 * PERMANENT neighbour entries on those bridges, xfrm states/policies with Freight's reqid.
 * Runtime-owned `frh-` links are read only for their master (see desired.ts attachments).
 */
import { dumpFdb, FDB_STATE } from '../kernel/fdb.js';
import { dumpLinks, type LinkState } from '../kernel/link.js';
import { dumpNeigh, NUD_PERMANENT } from '../kernel/neigh.js';
import type { NetlinkGateway } from '../kernel/netlink.js';
import { parseGeneveData } from '../kernel/geneve.js';
import { nftList, type NftCommand, type NftFamily, type NftTable } from '../kernel/nft.js';
import { parseTable } from './nft-table.js';
import { parseVxlanData } from '../kernel/vxlan.js';
import { parseVlanData } from '../kernel/vlan.js';
import { dumpPolicies, dumpSas, FREIGHT_REQID } from '../kernel/xfrm.js';
import { isOwnedLink, isRuntimePort } from '../names.js';
import { emptyState, fdbKey, neighKey, policyKey, saKey, type KernelState, type LinkSpec } from './types.js';

export interface ActualState extends KernelState {
  /** name → ifindex of every fr-prefixed link (owned and runtime ports) */
  ifindex: Map<string, number>;
}

export function linkSpec(l: LinkState, names: Map<number, string>): LinkSpec {
  const s: LinkSpec = { name: l.name, kind: (l.kind ?? 'unknown') as LinkSpec['kind'], mtu: l.mtu, up: l.up };
  if (l.master !== undefined && names.has(l.master)) s.master = names.get(l.master);
  if (l.kind === 'vxlan') {
    const v = parseVxlanData(l.data);
    Object.assign(s, { vni: v.vni, local: v.local, port: v.port });
  } else if (l.kind === 'geneve') {
    const g = parseGeneveData(l.data);
    Object.assign(s, { vni: g.vni, port: g.port, remote: g.remote });
  } else if (l.kind === 'vlan') {
    Object.assign(s, { vlan: parseVlanData(l.data).vlan, parent: l.link !== undefined ? names.get(l.link) : undefined });
  }
  if (l.kind !== 'bridge' && l.port) {
    s.learning = l.port.learning;
    s.neighSuppress = l.port.neighSuppress;
    if (l.port.isolated) s.isolated = true;
  }
  return s;
}

/** @param uplinks the mapped interfaces of physical networks: read for their master and state only */
export async function readLinks(gw: NetlinkGateway, uplinks: ReadonlySet<string> = new Set()): Promise<ActualState> {
  const st: ActualState = { ...emptyState(), ifindex: new Map() };
  const all = await dumpLinks(gw);
  const names = new Map(all.map((l) => [l.index, l.name]));
  for (const l of all) {
    if (uplinks.has(l.name)) {
      const master = l.master !== undefined ? names.get(l.master) : undefined;
      st.uplinks.set(l.name, { name: l.name, up: l.up, ...(master ? { master } : {}) });
      st.ifindex.set(l.name, l.index);
    } else if (isOwnedLink(l.name)) {
      st.links.set(l.name, linkSpec(l, names));
      st.ifindex.set(l.name, l.index);
    } else if (isRuntimePort(l.name)) {
      st.ports.set(l.name, { name: l.name, master: (l.master !== undefined && names.get(l.master)) || '' });
      st.ifindex.set(l.name, l.index);
    }
  }
  return st;
}

export async function readActual(gw: NetlinkGateway, xfrm?: NetlinkGateway, uplinks?: ReadonlySet<string>): Promise<ActualState> {
  const st = await readLinks(gw, uplinks);
  const byIndex = new Map([...st.ifindex].map(([n, i]) => [i, n]));
  const tunnels = new Set(
    [...st.links.values()].filter((l) => l.kind !== 'bridge' && l.kind !== 'vlan').map((l) => st.ifindex.get(l.name)!),
  );
  const bridges = new Set([...st.links.values()].filter((l) => l.kind === 'bridge').map((l) => st.ifindex.get(l.name)!));
  for (const e of await dumpFdb(gw, tunnels)) {
    // master entries: only static ones are ours (permanent = the port's own address)
    if (e.table === 'master' && e.state !== FDB_STATE.NOARP) continue;
    const f = { dev: byIndex.get(e.ifindex)!, mac: e.mac, table: e.table, ...(e.dst ? { dst: e.dst } : {}) };
    st.fdb.set(fdbKey(f), f);
  }
  for (const n of await dumpNeigh(gw, bridges)) {
    if (!(n.state & NUD_PERMANENT)) continue;
    const e = { dev: byIndex.get(n.ifindex)!, ip: n.ip, mac: n.mac };
    st.neigh.set(neighKey(e), e);
  }
  if (xfrm) await readXfrm(xfrm, st);
  return st;
}

async function readXfrm(xfrm: NetlinkGateway, st: ActualState): Promise<void> {
  // one dump at a time per socket: a second dump while one runs gets EBUSY
  const sas = await dumpSas(xfrm);
  const pols = await dumpPolicies(xfrm);
  for (const s of sas) {
    if (s.reqid !== FREIGHT_REQID) continue;
    // direction is relative to the node: inbound SAs are addressed to one of its IPs
    const sa = { dir: 'in' as 'in' | 'out', src: s.src, dst: s.dst, spi: s.spi };
    st.sas.set(saKey(sa), sa);
  }
  for (const p of pols) {
    if (p.reqid !== FREIGHT_REQID) continue;
    const pol = { dir: p.dir, src: p.src, dst: p.dst, dport: p.dport };
    st.policies.set(policyKey(pol), pol);
  }
}

/** Fixes SA directions once the node's underlay IP is known (an SA to us is inbound). */
export function orientSas(st: KernelState, underlayIp: string): void {
  const sas = [...st.sas.values()];
  st.sas.clear();
  for (const s of sas) {
    const sa = { ...s, dir: s.dst === underlayIp ? ('in' as const) : ('out' as const) };
    st.sas.set(saKey(sa), sa);
  }
}

/** The agent's nft tables as they are (families without a `freight` table are absent). */
export function readNft(list: (family: NftFamily) => NftCommand[] = nftList): Map<NftFamily, NftTable> {
  const out = new Map<NftFamily, NftTable>();
  for (const family of ['bridge', 'inet'] as const) {
    const t = parseTable(family, list(family));
    if (t) out.set(family, t);
  }
  return out;
}
