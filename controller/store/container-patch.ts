import type { Queryable } from './db.js';
import { ContainerSettings, type ContainerPatch } from '../../protocol/patch.js';
import { ApiError } from '../errors.js';
import { canonical, mergeSettings } from '../api/patch.js';
import { getContainer, writePublished, type Container } from './containers.js';
import type { Tenant } from './tenants.js';
import { listedGroups, setContainerGroups } from './security-groups.js';

interface Row {
  id: string;
  name: string;
  image: string;
  command: string[];
  boot: boolean;
  node: string | null;
  node_id: string | null;
  networks: string[];
  network_ids: string[];
  publish: Array<{ hostPort: number; port: number; proto: string; hostIp: string | null }>;
  restart: string;
  memory_bytes: string | number;
  cpu_millis: number | null;
  pids_max: number;
  description: string | null;
  labels: Record<string, string>;
}

/**
 * PATCH of a container: merges the patch into its settings under the row lock and writes them in
 * one UPDATE. Restart policy and limits reach the node through the push (the change-log trigger
 * records them) and the agent applies them to the running container without a restart; labels and
 * description stay in the database. Fields kept in other tables get their writer here from `changed`:
 * published ports (`writePublished`, whose trigger logs the container for its node's view).
 */
export async function patchContainer(q: Queryable, t: Tenant, name: string, patch: ContainerPatch, op: string): Promise<Container> {
  const { rows } = await q.query<Row>(
    `SELECT c.id, c.name, c.image, c.command, c.boot, nd.name AS node, c.node_id, c.restart, c.memory_bytes, c.cpu_millis,
            c.pids_max, c.description, c.labels,
            ARRAY(SELECT n.name FROM endpoints e JOIN networks n ON n.id = e.network_id
                   WHERE e.container_id = c.id ORDER BY e.ifindex) AS networks,
            ARRAY(SELECT e.network_id FROM endpoints e WHERE e.container_id = c.id) AS network_ids,
            COALESCE((SELECT json_agg(json_build_object('hostPort', p.host_port, 'port', p.port, 'proto', p.proto,
                                                        'hostIp', host(p.host_ip)) ORDER BY p.proto, p.host_port)
                        FROM published_ports p WHERE p.container_id = c.id), '[]') AS publish
       FROM containers c LEFT JOIN nodes nd ON nd.id = c.node_id
      WHERE c.tenant_id = $1 AND c.name = $2 AND c.kind = 'container' FOR UPDATE OF c`,
    [t.id, name],
  );
  const r = rows[0];
  if (!r) throw new ApiError('container_not_found', `${op}: container ${name} not found in tenant ${t.name}`);
  const current = {
    restart: r.restart,
    memory: Number(r.memory_bytes),
    cpus: r.cpu_millis === null ? null : r.cpu_millis / 1000,
    pids: r.pids_max,
    securityGroups: await listedGroups(q, r.id),
    description: r.description,
    labels: r.labels,
    publish: r.publish,
  };
  const fixed = { name: r.name, image: r.image, command: r.command, boot: r.boot, networks: r.networks, node: r.node };
  const merged = mergeSettings(ContainerSettings, current, fixed, patch, op);
  const s = merged.settings;
  // the same ports in another order or with hostIp absent instead of null are no change
  const changed = merged.changed.filter((k) => k !== 'publish' || canonical(ports(s.publish)) !== canonical(ports(r.publish)));
  if (changed.length === 0) return getContainer(q, t, name, op);
  // validated before the row is written: an unknown group leaves everything as it was
  if (changed.includes('securityGroups')) await setContainerGroups(q, t, r.id, s.securityGroups, op);
  if (changed.includes('publish')) await writePublished(q, t, { id: r.id, nodeId: r.node_id, networkIds: r.network_ids }, s.publish, op);
  await q.query(
    `UPDATE containers SET restart = $2, memory_bytes = $3, cpu_millis = $4, pids_max = $5, description = $6, labels = $7::jsonb,
            updated_at = now()
      WHERE id = $1`,
    [
      r.id,
      s.restart,
      s.memory,
      s.cpus === undefined ? null : Math.max(10, Math.round(s.cpus * 1000)),
      s.pids,
      s.description ?? null,
      JSON.stringify(s.labels),
    ],
  );
  return getContainer(q, t, name, op);
}

const ports = (list: ReadonlyArray<{ proto: string; hostPort: number; port: number; hostIp?: string | null }>) =>
  list
    .map((p) => ({ proto: p.proto, hostPort: p.hostPort, port: p.port, hostIp: p.hostIp ?? null }))
    .sort((a, b) => a.proto.localeCompare(b.proto) || a.hostPort - b.hostPort);
