/**
 * The guest suites drive one dataplane CLI per node namespace: the harness's
 * DataplaneProc, started from dist/ when run.sh built it (FREIGHT_DATAPLANE_DIST=1),
 * with audits only on request (the tests change kernel state behind its back).
 */
import { DataplaneProc, type NodeNs } from '../../netns/harness.js';

export { DataplaneProc as Driver };

/** Starts one driver per node, in parallel, and waits until all are ready. `args`: extra CLI options (--physical-network …). */
export async function startDrivers(nodes: NodeNs[], args: string[] = []): Promise<DataplaneProc[]> {
  const ds = nodes.map((n) => new DataplaneProc(n, 3_600_000, args));
  await Promise.all(ds.map((d) => d.ready));
  return ds;
}
