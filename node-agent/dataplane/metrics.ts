/** Dataplane counters, rendered as Prometheus text. */
import type { NftFamily, NftTable } from '../kernel/nft.js';

export interface DataplaneMetrics {
  applies: number;
  opsApplied: number;
  repairs: number;
  audits: number;
  errors: number;
  networkErrors: number;
}

export function emptyMetrics(): DataplaneMetrics {
  return { applies: 0, opsApplied: 0, repairs: 0, audits: 0, errors: 0, networkErrors: 0 };
}

export function renderMetrics(m: DataplaneMetrics, node: string): string {
  const l = `{node="${node}"}`;
  return [
    '# HELP freight_dataplane_applies_total View applications.',
    '# TYPE freight_dataplane_applies_total counter',
    `freight_dataplane_applies_total${l} ${m.applies}`,
    '# HELP freight_dataplane_ops_applied_total Kernel operations applied successfully.',
    '# TYPE freight_dataplane_ops_applied_total counter',
    `freight_dataplane_ops_applied_total${l} ${m.opsApplied}`,
    '# HELP freight_dataplane_repairs_total Operations applied by audits to repair drift.',
    '# TYPE freight_dataplane_repairs_total counter',
    `freight_dataplane_repairs_total${l} ${m.repairs}`,
    '# HELP freight_dataplane_audits_total Audit passes.',
    '# TYPE freight_dataplane_audits_total counter',
    `freight_dataplane_audits_total${l} ${m.audits}`,
    '# HELP freight_dataplane_errors_total Kernel operations that failed.',
    '# TYPE freight_dataplane_errors_total counter',
    `freight_dataplane_errors_total${l} ${m.errors}`,
    '# HELP freight_dataplane_network_errors Networks this node cannot carry (last apply).',
    '# TYPE freight_dataplane_network_errors gauge',
    `freight_dataplane_network_errors${l} ${m.networkErrors}`,
    '',
  ].join('\n');
}

/** Packet counts of the nft tables' named counters, keyed `family:name`. */
export function countersOf(tables: ReadonlyMap<NftFamily, NftTable>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [family, t] of tables) for (const [name, v] of Object.entries(t.counterValues ?? {})) out[`${family}:${name}`] = v.packets;
  return out;
}

export function renderNftCounters(c: Record<string, number>, node: string): string {
  const lines = ['# HELP freight_nft_drops_total Packets dropped by the agent\'s nft tables (anti-spoofing, ipsec guard), as of the last audit.', '# TYPE freight_nft_drops_total counter'];
  for (const [k, v] of Object.entries(c).sort()) {
    const [family, reason] = k.split(':');
    lines.push(`freight_nft_drops_total{node="${node}",table="${family}",reason="${reason}"} ${v}`);
  }
  return `${lines.join('\n')}\n`;
}
