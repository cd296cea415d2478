/** Planned operations: what the executor applies, in this vocabulary. */
import type { NftPlanOp } from './nft-table.js';
import type { FdbSpec, LinkSpec, NeighSpec, XfrmPolicySpec, XfrmStateSpec } from './types.js';

export type Op =
  | { kind: 'link.delete'; name: string; linkKind: string; reason: string; network?: string }
  | { kind: 'link.create'; link: LinkSpec; reason: string; network?: string }
  | { kind: 'link.set'; name: string; mtu?: number; master?: string | null; up?: boolean; reason: string; network?: string }
  | { kind: 'port.flags'; name: string; learning: boolean; neighSuppress: boolean; isolated?: boolean; reason: string; network?: string }
  | { kind: 'fdb.del'; entry: FdbSpec; reason: string; network?: string }
  | { kind: 'fdb.add'; entry: FdbSpec; reason: string; network?: string }
  | { kind: 'neigh.del'; entry: NeighSpec; reason: string; network?: string }
  | { kind: 'neigh.add'; entry: NeighSpec; reason: string; network?: string }
  | { kind: 'sa.del'; sa: XfrmStateSpec; reason: string; network?: string }
  | { kind: 'sa.add'; sa: XfrmStateSpec; reason: string; network?: string }
  | { kind: 'policy.del'; policy: XfrmPolicySpec; reason: string; network?: string }
  | { kind: 'policy.add'; policy: XfrmPolicySpec; reason: string; network?: string }
  | (NftPlanOp & { network?: string });

export type OpKind = Op['kind'];

/** Application order: removals first (leaves before links, tunnels before bridges), then creation top-down, then xfrm removals. */
export const PHASES: OpKind[][] = [
  ['fdb.del', 'neigh.del'],
  ['link.delete'],
  ['link.create'],
  ['link.set', 'port.flags'],
  ['fdb.add', 'neigh.add', 'sa.add', 'policy.add'],
  // xfrm deletes after the adds: a rotation's new outbound SA exists before the old one goes
  ['policy.del', 'sa.del'],
  // nft last: each table is one atomic `nft -j -f` batch, independent of links
  ['nft.apply'],
];

export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'link.delete':
      return `delete ${op.linkKind} ${op.name} (${op.reason})`;
    case 'link.create':
      return `create ${op.link.kind} ${op.link.name} (${op.reason})`;
    case 'link.set': {
      const mtu = op.mtu !== undefined ? ` mtu ${op.mtu}` : '';
      const master = op.master !== undefined ? ` master ${op.master ?? 'none'}` : '';
      return `set ${op.name}${mtu}${master}${op.up !== undefined ? (op.up ? ' up' : ' down') : ''}`;
    }
    case 'port.flags': {
      const onOff = (b: boolean | undefined) => (b ? 'on' : 'off');
      const isolated = op.isolated ? ' isolated on' : '';
      return `set port ${op.name} learning ${onOff(op.learning)} neigh_suppress ${onOff(op.neighSuppress)}${isolated}`;
    }
    case 'fdb.del':
    case 'fdb.add':
      return `${op.kind} ${op.entry.mac}${op.entry.dst ? ` dst ${op.entry.dst}` : ''} dev ${op.entry.dev} ${op.entry.table}`;
    case 'neigh.del':
    case 'neigh.add':
      return `${op.kind} ${op.entry.ip} lladdr ${op.entry.mac} dev ${op.entry.dev}`;
    case 'sa.del':
    case 'sa.add':
      return `${op.kind} ${op.sa.dir} spi 0x${op.sa.spi.toString(16)} ${op.sa.src}->${op.sa.dst}`;
    case 'policy.del':
    case 'policy.add':
      return `${op.kind} ${op.policy.dir} ${op.policy.src}->${op.policy.dst}:${op.policy.dport}`;
    case 'nft.apply':
      return `${op.summary} (${op.reason})`;
  }
}
