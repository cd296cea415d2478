/**
 * Applies planned ops over netlink in dependency order (PHASES), each phase as batches.
 * A failed op is recorded and does not stop unrelated ops; ops whose link could not be
 * resolved fail with ENODEV.
 */
import { createBridgeMsg } from '../kernel/bridge.js';
import { addFdbMsg, delFdbMsg } from '../kernel/fdb.js';
import { createGeneveMsg } from '../kernel/geneve.js';
import { delLinkMsg, portFlagsMsg, setLinkMsg } from '../kernel/link.js';
import { addNeighMsg, delNeighMsg } from '../kernel/neigh.js';
import { NftError } from '../kernel/errors.js';
import { NetlinkError, type NetlinkGateway, type NlMsg } from '../kernel/netlink.js';
import { nftApply, type NftCommand } from '../kernel/nft.js';
import { createVxlanMsg } from '../kernel/vxlan.js';
import { createVlanMsg } from '../kernel/vlan.js';
import { delPolicyMsg, delSaMsg, FREIGHT_REQID, newPolicyMsg, newSaMsg } from '../kernel/xfrm.js';
import { VXLAN_PORT } from '../names.js';
import { describeOp, PHASES, type Op } from './ops.js';
import { readLinks } from './reader.js';

export interface OpError {
  op: string;
  network?: string;
  code: string;
  message: string;
}

export interface ExecResult {
  applied: number;
  errors: OpError[];
}

export interface Gateways {
  route: NetlinkGateway;
  xfrm?: NetlinkGateway;
  /** applies one atomic nft batch (default: nftApply, as nft text when it renders) */
  nft?: (commands: () => NftCommand[], target: string, text?: string) => void;
}

type Resolve = (name: string) => number | undefined;

/** @param uplinks mapped interfaces of physical networks (parents and ports the ops may name) */
export async function execute(ops: Op[], gws: Gateways, ifindex: Map<string, number>, uplinks?: ReadonlySet<string>): Promise<ExecResult> {
  const res: ExecResult = { applied: 0, errors: [] };
  let names = ifindex;
  const refresh = async (): Promise<void> => {
    names = (await readLinks(gws.route, uplinks)).ifindex;
  };
  for (const phase of PHASES) {
    const batch = ops.filter((o) => phase.includes(o.kind));
    if (!batch.length) continue;
    if (phase.includes('nft.apply')) {
      runNft(batch, gws.nft ?? nftApply, res);
      continue;
    }
    if (phase.includes('link.create')) {
      // bridges first: tunnels are created enslaved to them
      await run(
        batch.filter((o) => o.kind === 'link.create' && o.link.kind === 'bridge'),
        gws,
        (n) => names.get(n),
        res,
      );
      await refresh();
      await run(
        batch.filter((o) => !(o.kind === 'link.create' && o.link.kind === 'bridge')),
        gws,
        (n) => names.get(n),
        res,
      );
      await refresh();
      continue;
    }
    if (phase.includes('link.delete')) batch.sort((a, b) => rank(a) - rank(b));
    await run(batch, gws, (n) => names.get(n), res);
    if (phase.includes('link.delete')) await refresh();
  }
  return res;
}

/** Each table op is one atomic batch; a failed element update falls back to a full replacement. */
function runNft(ops: Op[], apply: NonNullable<Gateways['nft']>, res: ExecResult): void {
  for (const op of ops) {
    if (op.kind !== 'nft.apply') continue;
    const target = `table ${op.family} freight`;
    try {
      apply(() => op.commands, target, op.text?.());
      res.applied++;
    } catch (e) {
      if (!op.fallback) {
        fail(res, op, e);
        continue;
      }
      try {
        apply(op.fallback, target);
        res.applied++;
      } catch (e2) {
        fail(res, op, e2);
      }
    }
  }
}

/** tunnels before bridges when deleting */
function rank(o: Op): number {
  return o.kind === 'link.delete' && o.linkKind === 'bridge' ? 1 : 0;
}

async function run(ops: Op[], gws: Gateways, resolve: Resolve, res: ExecResult): Promise<void> {
  const route: { op: Op; msg: NlMsg }[] = [];
  const xfrm: { op: Op; msg: NlMsg }[] = [];
  for (const op of ops) {
    try {
      const m = encode(op, resolve);
      (op.kind.startsWith('sa.') || op.kind.startsWith('policy.') ? xfrm : route).push({ op, msg: m });
    } catch (e) {
      fail(res, op, e);
    }
  }
  await send(route, gws.route, res);
  if (xfrm.length && !gws.xfrm)
    for (const x of xfrm) fail(res, x.op, new NetlinkError({ errno: 0, name: 'ENOXFRM', op: x.msg.op, target: x.msg.target }));
  else if (xfrm.length) await send(xfrm, gws.xfrm!, res);
}

async function send(items: { op: Op; msg: NlMsg }[], gw: NetlinkGateway, res: ExecResult): Promise<void> {
  if (!items.length) return;
  const out = await gw.batch(items.map((i) => i.msg));
  out.forEach((err, i) => (err ? fail(res, items[i].op, err) : res.applied++));
}

function fail(res: ExecResult, op: Op, e: unknown): void {
  const code = e instanceof NetlinkError || e instanceof NftError ? e.code : 'internal';
  res.errors.push({ op: describeOp(op), network: op.network, code, message: e instanceof Error ? e.message : String(e) });
}

function need(resolve: Resolve, name: string, what: string): number {
  const i = resolve(name);
  if (i === undefined) throw new NetlinkError({ errno: 19, op: what, target: name, detail: 'link missing' });
  return i;
}

export function encode(op: Op, resolve: Resolve): NlMsg {
  switch (op.kind) {
    case 'link.delete':
      return delLinkMsg(need(resolve, op.name, `delete ${op.linkKind}`), op.name, op.linkKind);
    case 'link.create': {
      const l = op.link;
      if (l.kind === 'bridge') return createBridgeMsg({ name: l.name, mtu: l.mtu, vni: l.vni });
      const master = l.master ? need(resolve, l.master, `create ${l.kind}`) : undefined;
      if (l.kind === 'vlan')
        return createVlanMsg({ name: l.name, parent: need(resolve, l.parent ?? '', 'create vlan'), vlan: l.vlan!, mtu: l.mtu, master });
      if (l.kind === 'vxlan') return createVxlanMsg({ name: l.name, vni: l.vni!, local: l.local!, port: l.port!, mtu: l.mtu, master });
      return createGeneveMsg({ name: l.name, vni: l.vni!, remote: l.remote, port: l.port!, mtu: l.mtu, master });
    }
    case 'link.set': {
      const master = op.master === undefined ? undefined : op.master === null ? 0 : need(resolve, op.master, 'set master');
      return setLinkMsg(need(resolve, op.name, 'set link'), op.name, { mtu: op.mtu, master, up: op.up });
    }
    case 'port.flags':
      return portFlagsMsg(need(resolve, op.name, 'set port flags'), op.name, {
        learning: op.learning,
        neighSuppress: op.neighSuppress,
        isolated: op.isolated,
      });
    case 'fdb.add':
    case 'fdb.del': {
      const e = op.entry;
      const entry = { ifindex: need(resolve, e.dev, op.kind), mac: e.mac, table: e.table, dst: e.dst };
      return op.kind === 'fdb.add' ? addFdbMsg(entry, e.dev) : delFdbMsg(entry, e.dev);
    }
    case 'neigh.add':
      return addNeighMsg({ ifindex: need(resolve, op.entry.dev, op.kind), ip: op.entry.ip, mac: op.entry.mac }, op.entry.dev);
    case 'neigh.del':
      return delNeighMsg({ ifindex: need(resolve, op.entry.dev, op.kind), ip: op.entry.ip }, op.entry.dev);
    case 'sa.add':
      return newSaMsg({ src: op.sa.src, dst: op.sa.dst, spi: op.sa.spi, key: op.sa.key ?? '', reqid: FREIGHT_REQID, dport: VXLAN_PORT });
    case 'sa.del':
      return delSaMsg({ dst: op.sa.dst, spi: op.sa.spi });
    case 'policy.add':
      return newPolicyMsg({ ...op.policy, reqid: FREIGHT_REQID });
    case 'policy.del':
      return delPolicyMsg(op.policy);
    case 'nft.apply':
      throw new Error(`encode ${op.summary}: nft ops are not netlink messages`);
  }
}
