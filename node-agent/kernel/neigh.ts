/** Static ARP entries on tenant bridges (IP → MAC), used by neigh_suppress for ARP suppression. */
import { NUD, packNeigh } from './neigh-codec.js';
import { AF_INET, NLM_F, RTM, ip4str, macStr, neighPayload, rt, type NetlinkGateway, type NlMsg } from './netlink.js';

export interface NeighEntry {
  /** bridge ifindex */
  ifindex: number;
  ip: string;
  mac: string;
}

export interface NeighDumpEntry extends NeighEntry {
  state: number;
}

export const NUD_PERMANENT = 0x80;

export function addNeighMsg(e: NeighEntry, ifname = String(e.ifindex)): NlMsg {
  return {
    type: RTM.NEWNEIGH,
    // REPLACE: a MAC change for the same IP is an in-place update
    flags: NLM_F.CREATE | NLM_F.REPLACE,
    payload: [packNeigh({ family: AF_INET, ifindex: e.ifindex, state: NUD.PERMANENT }, { dst: e.ip, lladdr: e.mac })],
    op: 'add neigh',
    target: `${e.ip} lladdr ${e.mac} dev ${ifname}`,
  };
}

export function delNeighMsg(e: Pick<NeighEntry, 'ifindex' | 'ip'>, ifname = String(e.ifindex)): NlMsg {
  return {
    type: RTM.DELNEIGH,
    payload: [packNeigh({ family: AF_INET, ifindex: e.ifindex }, { dst: e.ip })],
    op: 'delete neigh',
    target: `${e.ip} dev ${ifname}`,
  };
}

export async function dumpNeigh(gw: NetlinkGateway, ifindexes: ReadonlySet<number>): Promise<NeighDumpEntry[]> {
  const msgs = await gw.dump({ type: RTM.GETNEIGH, payload: neighPayload({ family: AF_INET }, {}), op: 'dump', target: 'neigh' });
  const out: NeighDumpEntry[] = [];
  for (const m of msgs) {
    if (m.type !== RTM.NEWNEIGH || !ifindexes.has(m.data.readInt32LE(4))) continue;
    const n = rt.parseNeighborMessage(m.data);
    const ip = ip4str(n.attrs.dst);
    const mac = macStr(n.attrs.lladdr);
    if (!ip || !mac) continue;
    out.push({ ifindex: n.data.ifindex ?? 0, ip, mac, state: m.data.readUInt16LE(8) });
  }
  return out;
}
