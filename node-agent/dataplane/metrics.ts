/** Dataplane metrics (prom-client), registered in the registry the agent gives the dataplane. */
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../lib/metrics.js';
import type { NftFamily, NftTable } from '../kernel/nft.js';
import type { SgDrop } from './sg-counters.js';

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

/** Registers the counters (read from `m` and `nft()` at scrape time); returns the netlink apply histogram. */
export function registerDataplaneMetrics(
  registry: Registry,
  node: string,
  m: DataplaneMetrics,
  nft: () => Record<string, number>,
  sgDrops: () => SgDrop[] = () => [],
): Histogram<'node'> {
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      labelNames: ['node'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ node }, read());
      },
    });
  counter('freight_dataplane_applies_total', 'View applications.', () => m.applies);
  counter('freight_dataplane_ops_applied_total', 'Kernel operations applied successfully.', () => m.opsApplied);
  counter('freight_dataplane_repairs_total', 'Operations applied by audits to repair drift.', () => m.repairs);
  counter('freight_dataplane_audits_total', 'Audit passes.', () => m.audits);
  counter('freight_dataplane_errors_total', 'Kernel operations that failed.', () => m.errors);
  new Gauge({
    name: 'freight_dataplane_network_errors',
    help: 'Networks this node cannot carry (last apply).',
    labelNames: ['node'],
    registers: [registry],
    collect() {
      this.set({ node }, m.networkErrors);
    },
  });
  new Counter({
    name: 'freight_nft_drops_total',
    help: "Packets dropped by the agent's nft tables (anti-spoofing, ipsec guard), as of the last audit.",
    labelNames: ['node', 'table', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, v] of Object.entries(nft()).sort()) {
        const [table, reason] = k.split(':');
        this.inc({ node, table, reason }, v);
      }
    },
  });
  new Counter({
    name: 'freight_sg_dropped_packets_total',
    help: 'Packets dropped by security group policy per container and direction (ingress: to it, egress: from it), as of the last audit.',
    labelNames: ['node', 'tenant', 'container', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of sgDrops()) this.inc({ node, tenant: d.tenant, container: d.container, direction: d.direction }, d.packets);
    },
  });
  return new Histogram({
    name: 'freight_dataplane_apply_seconds',
    help: "Time to execute one plan's kernel operations over netlink (applies and repairs).",
    labelNames: ['node'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
}

/** Packet counts of the nft tables' named counters, keyed `family:name`. */
export function countersOf(tables: ReadonlyMap<NftFamily, NftTable>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [family, t] of tables) for (const [name, v] of Object.entries(t.counterValues ?? {})) out[`${family}:${name}`] = v.packets;
  return out;
}
