/** Pure: security-group counters read back from the kernel's `inet freight` table. */
import type { NodeView } from '../../protocol/view.js';
import { DROP_SETS, RULE_COMMENT_RE } from '../kernel/nft-sg.js';
import type { NftTable } from '../kernel/nft.js';
import { networkBridge } from '../names.js';

export interface SgDrop {
  tenant: string;
  container: string;
  direction: 'ingress' | 'egress';
  packets: number;
}

/** Packets dropped by policy per local container port (the drop sets' per-element counters), summed per container. */
export function sgDrops(inet: NftTable | undefined, view: NodeView | undefined): SgDrop[] {
  if (!inet || !view) return [];
  const owner = new Map<string, { tenant: string; container: string }>();
  for (const e of Object.values(view.endpoints)) {
    const c = view.containers[e.owner];
    const n = view.networks[e.network];
    if (!c || !n || e.node !== view.node) continue;
    try {
      owner.set(`${networkBridge(n)} . ${e.ip}`, { tenant: c.tenant, container: c.name });
    } catch {
      // a network this node cannot name carries no counters
    }
  }
  const sum = new Map<string, SgDrop>();
  for (const direction of ['ingress', 'egress'] as const) {
    const counters = inet.sets.find((s) => s.name === DROP_SETS[direction])?.elemCounters ?? {};
    for (const [elem, c] of Object.entries(counters)) {
      const o = owner.get(elem);
      if (!o) continue;
      const k = `${o.tenant}/${o.container}/${direction}`;
      const cur = sum.get(k) ?? { ...o, direction, packets: 0 };
      cur.packets += c.packets;
      sum.set(k, cur);
    }
  }
  return [...sum.values()];
}

/** Per-rule packet and byte counters (one nft rule per security group rule, identified by its comment). */
export function sgRuleCounters(inet: NftTable | undefined): Record<string, { packets: number; bytes: number }> {
  const out: Record<string, { packets: number; bytes: number }> = {};
  for (const r of inet?.rules ?? []) {
    const m = RULE_COMMENT_RE.exec(r.comment);
    if (!m) continue;
    const c = (r.expr as Array<Record<string, unknown>>).find((x) => 'counter' in x)?.counter as {
      packets?: number;
      bytes?: number;
    } | null;
    out[m[1]] = { packets: Number(c?.packets ?? 0), bytes: Number(c?.bytes ?? 0) };
  }
  return out;
}
