/** Dataplane counters, rendered as Prometheus text. */
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
