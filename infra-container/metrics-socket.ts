import { existsSync, lstatSync, rmSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { serveMetrics, type Registry } from '../lib/metrics.js';

/**
 * Where the infra container serves /metrics: a unix socket in /run/freight, which the agent binds
 * from the node (<state>/containers/<id>/run-freight). A TCP port would be in the container's
 * network namespace (only the tenant's interface): reachable from the tenant, not from the node.
 */
export const METRICS_SOCKET = '/run/freight/metrics.sock';

/** Serves when the socket's directory exists (the agent bound it); a stale socket is replaced. */
export async function serveMetricsSocket(socket: string, registry: Registry): Promise<boolean> {
  if (!socket || !existsSync(path.dirname(socket))) return false;
  if (existsSync(socket) && lstatSync(socket).isSocket()) rmSync(socket);
  await serveMetrics(registry, { path: socket });
  // root of the node (and of the container) only
  await chmod(socket, 0o600);
  return true;
}
