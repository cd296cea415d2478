/** Pure: the security-group part of the desired nft state (docs/security.md) from the view. */
import type { NodeView, ViewNetwork, ViewSecurityRule } from '../../protocol/view.js';
import { securityGroupParts, type SgSpec } from '../kernel/nft-sg.js';
import type { NftTable } from '../kernel/nft.js';
import { networkBridge } from '../names.js';
import { codeOrder } from '../../lib/order.js';

/** The bridges a packet from an address of this network can arrive on here: its own, and its router's other networks'. */
function reachBridges(view: NodeView): (network: string) => string[] {
  const bridge = new Map<string, string>();
  const byRouter = new Map<string, string[]>();
  for (const n of Object.values(view.networks)) {
    const b = bridgeOf(n);
    if (!b) continue;
    bridge.set(n.id, b);
    if (n.router) byRouter.set(n.router.id, [...(byRouter.get(n.router.id) ?? []), b]);
  }
  return (id) => {
    const n = view.networks[id];
    if (!n || !bridge.has(id)) return [];
    return n.router ? (byRouter.get(n.router.id) ?? []) : [bridge.get(id)!];
  };
}

function bridgeOf(n: ViewNetwork): string | undefined {
  try {
    return networkBridge(n);
  } catch {
    return undefined; // a network this node cannot name cannot carry traffic here either
  }
}

/** Zones 1..ZONE_OVERLAY for overlay networks (by VNI), the rest for physical segments (by name). */
const ZONE_OVERLAY = 60_000;
const ZONE_MAX = 65_535;

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * A conntrack zone per local bridge, stable while the node's networks come and go: an overlay
 * network's zone follows its VNI (unique per cluster, allocated from 1 up), a physical segment's
 * a hash of its bridge name. Two bridges wanting one zone (VNIs 60,000 apart, a hash clash) take
 * the next free one in a fixed order, so only such a pair can ever move.
 */
export function bridgeZones(view: NodeView): Array<{ bridge: string; zone: number }> {
  const want = new Map<string, number>();
  for (const n of Object.values(view.networks)) {
    const b = bridgeOf(n);
    if (!b || want.has(b)) continue;
    want.set(
      b,
      n.params?.type === 'physical' || !n.vni ? ZONE_OVERLAY + 1 + (fnv(b) % (ZONE_MAX - ZONE_OVERLAY)) : 1 + ((n.vni - 1) % ZONE_OVERLAY),
    );
  }
  const taken = new Set<number>();
  const out: Array<{ bridge: string; zone: number }> = [];
  for (const [bridge, z] of [...want].sort(([a, x], [b, y]) => x - y || codeOrder(a, b))) {
    let zone = z;
    while (taken.has(zone)) zone = (zone % ZONE_MAX) + 1;
    taken.add(zone);
    out.push({ bridge, zone });
  }
  return out;
}

/** Which local ports are under policy, their groups' rules, and the remote groups' members. */
export function sgSpec(view: NodeView): SgSpec {
  const reach = reachBridges(view);
  const own = (id: string) => reach(id).find((b) => b === bridgeOf(view.networks[id]));
  const spec: SgSpec = { ports: [], infra: [], published: [], groups: [], remote: new Map(), zones: bridgeZones(view) };
  const groups = new Map<string, { id: string; rules: ViewSecurityRule[] }>();
  for (const c of Object.values(view.containers)) for (const g of c.securityGroups ?? []) groups.set(g.id, { id: g.id, rules: g.rules });
  spec.groups = [...groups.values()];
  for (const e of Object.values(view.endpoints)) {
    const bridge = own(e.network);
    if (!bridge) continue;
    if (e.kind === 'infra') {
      spec.infra.push(`${bridge} . ${e.ip}`);
      continue;
    }
    const c = e.node === view.node ? view.containers[e.owner] : undefined;
    if (!c?.securityGroups) continue; // not ours, or an older controller: no policy to enforce
    spec.ports.push({ bridge, ip: e.ip, groups: c.securityGroups.map((g) => g.id).sort() });
    for (const p of c.publish ?? []) spec.published.push(`${bridge} . ${e.ip} . ${p.proto} . ${p.port}`);
  }
  const wanted = new Set(spec.groups.flatMap((g) => g.rules.map((r) => r.remoteGroup).filter((x): x is string => x !== undefined)));
  for (const g of wanted) spec.remote.set(g, []);
  for (const e of Object.values(view.endpoints)) {
    for (const g of e.groups ?? []) {
      const list = spec.remote.get(g);
      if (list) for (const b of reach(e.network)) list.push(`${b} . ${e.ip}`);
    }
  }
  return spec;
}

/** Adds the security-group chains and sets to the `inet` table (made when the ipsec guard has none). */
export function withSecurityGroups(inet: NftTable | undefined, view: NodeView): NftTable | undefined {
  const parts = securityGroupParts(sgSpec(view));
  if (!parts) return inet;
  const t: NftTable = inet ?? { family: 'inet', counters: [], sets: [], chains: [], rules: [] };
  return { ...t, sets: [...t.sets, ...parts.sets], chains: [...t.chains, ...parts.chains], rules: [...t.rules, ...parts.rules] };
}
