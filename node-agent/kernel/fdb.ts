/**
 * Bridge forwarding entries on tunnel ports.
 * - `self` entries live in the vxlan device's own FDB: MAC → remote VTEP (`dst`); the
 *   all-zero MAC with several `dst` is the head-end replication (flood) list.
 * - `master` entries live in the bridge's FDB: MAC → tunnel port, static. They let the
 *   bridge forward known remote MACs straight to the tunnel and let ARP suppression
 *   (neigh_suppress) answer for them.
 */
import { NTF, NUD, packNeigh } from './neigh-codec.js';
import { AF_BRIDGE, NLM_F, RTM, ip4str, macStr, neighPayload, rt, type NetlinkGateway, type NlMsg } from './netlink.js';

const NUD_NOARP = 0x40;
const NUD_PERMANENT = 0x80;
const NTF_SELF = 0x02;
const NTF_MASTER = 0x04;

export const ZERO_MAC = '00:00:00:00:00:00';

export interface FdbEntry {
  /** tunnel device ifindex */
  ifindex: number;
  mac: string;
  table: 'self' | 'master';
  /** remote VTEP, for `self` entries */
  dst?: string;
}

export interface FdbDumpEntry extends FdbEntry {
  state: number;
  /** ifindex of the bridge, for `master` entries */
  bridge?: number;
}

function describe(e: FdbEntry, name: string): string {
  return `${e.mac}${e.dst ? ` dst ${e.dst}` : ''} dev ${name} ${e.table}`;
}

export function addFdbMsg(e: FdbEntry, ifname = String(e.ifindex)): NlMsg {
  const self = e.table === 'self';
  return {
    type: RTM.NEWNEIGH,
    // APPEND lets several all-zero-MAC entries coexist (one per remote VTEP)
    flags: NLM_F.CREATE | (self ? NLM_F.APPEND : NLM_F.REPLACE),
    payload: [
      packNeigh(
        { family: AF_BRIDGE, ifindex: e.ifindex, state: self ? NUD.PERMANENT : NUD.NOARP, flags: self ? NTF.SELF : NTF.MASTER },
        { lladdr: e.mac, dst: self ? e.dst : undefined },
      ),
    ],
    op: 'add fdb',
    target: describe(e, ifname),
  };
}

export function delFdbMsg(e: FdbEntry, ifname = String(e.ifindex)): NlMsg {
  const self = e.table === 'self';
  return {
    type: RTM.DELNEIGH,
    payload: [
      packNeigh(
        { family: AF_BRIDGE, ifindex: e.ifindex, flags: self ? NTF.SELF : NTF.MASTER },
        { lladdr: e.mac, dst: self ? e.dst : undefined },
      ),
    ],
    op: 'delete fdb',
    target: describe(e, ifname),
  };
}

/** All AF_BRIDGE neighbour entries of the given devices (others are dropped while parsing). */
export async function dumpFdb(gw: NetlinkGateway, ifindexes: ReadonlySet<number>): Promise<FdbDumpEntry[]> {
  const msgs = await gw.dump({ type: RTM.GETNEIGH, payload: neighPayload({ family: AF_BRIDGE }, {}), op: 'dump', target: 'fdb' });
  const out: FdbDumpEntry[] = [];
  for (const m of msgs) {
    if (m.type !== RTM.NEWNEIGH) continue;
    // ndmsg.ifindex sits at offset 4: skip foreign devices before the full parse
    if (!ifindexes.has(m.data.readInt32LE(4))) continue;
    const n = rt.parseNeighborMessage(m.data);
    const mac = macStr(n.attrs.lladdr);
    if (!mac) continue;
    const state = m.data.readUInt16LE(8);
    const flags = m.data.readUInt8(10);
    const master = n.attrs.master !== undefined || (flags & NTF_MASTER) !== 0;
    const e: FdbDumpEntry = { ifindex: n.data.ifindex ?? 0, mac, table: master && !(flags & NTF_SELF) ? 'master' : 'self', state };
    const dst = ip4str(n.attrs.dst);
    if (dst) e.dst = dst;
    if (n.attrs.master !== undefined) e.bridge = n.attrs.master;
    out.push(e);
  }
  return out;
}

export const FDB_STATE = { NOARP: NUD_NOARP, PERMANENT: NUD_PERMANENT } as const;
