import type { Queryable } from './db.js';
import type { NetworkAttachment } from '../../protocol/api.js';
import { ApiError } from '../errors.js';
import { claimAddress, insertEndpoint } from './alloc.js';
import { getContainer, lockNetworks, newMemo, type Container } from './containers.js';
import type { Tenant } from './tenants.js';

/** Interfaces a container may have: eth0…eth7 (endpoints.ifindex CHECK 0..7). */
export const MAX_INTERFACES = 8;

interface Locked {
  id: string;
  nodeId: string | null;
  node: string | null;
  /** the node's mapped physical networks (its agent's --physical-network) */
  physical: string[];
  ifindexes: number[];
}

/** The container row, locked until commit (an attach and a detach of one container serialise), with its interfaces. */
async function lockContainer(q: Queryable, t: Tenant, name: string, op: string): Promise<Locked> {
  const { rows } = await q.query<{ id: string; node_id: string | null; node: string | null; physical: string[] | null }>(
    `SELECT c.id, c.node_id, nd.name AS node,
            ARRAY(SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(nd.capabilities -> 'physicalNetworks') = 'object'
                                                THEN nd.capabilities -> 'physicalNetworks' ELSE '{}'::jsonb END)) AS physical
       FROM containers c LEFT JOIN nodes nd ON nd.id = c.node_id
      WHERE c.tenant_id = $1 AND c.name = $2 AND c.kind = 'container' FOR UPDATE OF c`,
    [t.id, name],
  );
  if (!rows[0]) throw new ApiError('container_not_found', `${op}: container ${name} not found in tenant ${t.name}`);
  const eps = await q.query<{ ifindex: number }>('SELECT ifindex FROM endpoints WHERE container_id = $1 ORDER BY ifindex', [rows[0].id]);
  return {
    id: rows[0].id,
    nodeId: rows[0].node_id,
    node: rows[0].node,
    physical: rows[0].physical ?? [],
    ifindexes: eps.rows.map((r) => r.ifindex),
  };
}

/**
 * Plugs a network into an existing container (docker network connect): one endpoint on the
 * container's node at its lowest free interface index, its address and MAC chosen or allocated
 * under the network row lock. Its node sees the endpoint through the view and hot-plugs the
 * interface into the running container; every other node of the network gets its FDB and
 * neighbour entries, the infra instance its DHCP binding and DNS name. Nothing is written
 * before every check passed.
 */
export async function attachContainerNetwork(
  q: Queryable,
  t: Tenant,
  name: string,
  body: NetworkAttachment,
  op: string,
): Promise<Container> {
  const c = await lockContainer(q, t, name, op);
  const net = (await lockNetworks(q, t, [body.network], op, newMemo())).get(body.network)!;
  const on = await q.query('SELECT 1 FROM endpoints WHERE container_id = $1 AND network_id = $2', [c.id, net.id]);
  if (on.rows.length) throw new ApiError('conflict', `${op}: container ${name} is already on network ${body.network}`, 'network');
  const ifindex = [...Array(MAX_INTERFACES).keys()].find((i) => !c.ifindexes.includes(i));
  if (ifindex === undefined)
    throw new ApiError('conflict', `${op}: container ${name} already has ${MAX_INTERFACES} networks (eth0…eth7), the most it can have`);
  if (net.physical !== null && c.node !== null && !c.physical.includes(net.physical))
    throw new ApiError(
      'node_lacks_physical_network',
      `${op}: node ${c.node} of container ${name} does not map physical network ${net.physical}`,
      'network',
    );
  const { ip, mac } = await claimAddress(q, net, body, op, '');
  await insertEndpoint(q, { tenantId: t.id, networkId: net.id, containerId: c.id, ifindex, ip, mac, nodeId: c.nodeId, plugged: true });
  await q.query('UPDATE containers SET updated_at = now() WHERE id = $1', [c.id]);
  return getContainer(q, t, name, op);
}

/**
 * Unplugs a network from a container (docker network disconnect): its endpoint goes, so its node
 * removes the interface from the running container and the other nodes drop its FDB and
 * neighbour entries. A container keeps at least one network, and a network on a router while it
 * publishes ports.
 */
export async function detachContainerNetwork(q: Queryable, t: Tenant, name: string, network: string, op: string): Promise<Container> {
  const c = await lockContainer(q, t, name, op);
  const net = (await lockNetworks(q, t, [network], op, newMemo())).get(network)!;
  const on = await q.query('SELECT 1 FROM endpoints WHERE container_id = $1 AND network_id = $2', [c.id, net.id]);
  if (!on.rows.length) throw new ApiError('not_found', `${op}: container ${name} is not on network ${network}`);
  if (c.ifindexes.length === 1) throw new ApiError('conflict', `${op}: network ${network} is the only network of container ${name}`);
  const routed = await q.query(
    `SELECT 1 FROM published_ports p WHERE p.container_id = $1
        AND NOT EXISTS (SELECT 1 FROM endpoints e JOIN networks n ON n.id = e.network_id
                         WHERE e.container_id = $1 AND e.network_id <> $2 AND n.router_id IS NOT NULL) LIMIT 1`,
    [c.id, net.id],
  );
  if (routed.rows.length)
    throw new ApiError('conflict', `${op}: container ${name} publishes ports and ${network} is its only network on a router`);
  await q.query('DELETE FROM endpoints WHERE container_id = $1 AND network_id = $2', [c.id, net.id]);
  await q.query('UPDATE containers SET updated_at = now() WHERE id = $1', [c.id]);
  return getContainer(q, t, name, op);
}
