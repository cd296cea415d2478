import { z } from 'zod';
import { ContainerResponse, LogsResponse, Page } from '../../protocol/responses.js';
import { ContainerAction, ContainerAttach, ContainerCreate, ContainerListQuery } from '../../protocol/api.js';
import { attachContainerNetwork, detachContainerNetwork } from '../store/attach.js';
import { ApiError } from '../errors.js';
import { assertNotReserved } from '../reserved.js';
import { ContainerPatch } from '../../protocol/patch.js';
import { patchContainer } from '../store/container-patch.js';
import { createContainer, deleteContainer, getContainer, listContainers, setDesiredState, type TxMemo } from '../store/containers.js';
import { directoryImage, imageForCreate } from '../images/resolve.js';
import { hasImageRepos } from '../images/repos-store.js';
import type { Queryable } from '../store/db.js';
import type { Tenant } from '../store/tenants.js';
import { BODY_LIMITS, route, type Deps } from './route.js';
import type { InfraCounters } from '../../protocol/stream.js';

const LogsQuery = z.object({ tail: z.coerce.number().int().min(1).max(100_000).default(100) });

/** The counters of an infra instance, or why there are none: a slow or absent node never fails the GET. */
async function infraCounters(
  push: Deps['push'],
  c: { id: string; node: string | null; observedState: string },
): Promise<{ counters: InfraCounters | null; countersError?: string }> {
  if (!c.node) return { counters: null, countersError: 'not scheduled on a node yet' };
  if (c.observedState !== 'running') return { counters: null, countersError: `not running (${c.observedState})` };
  try {
    if (!push.requestInfraCounters) throw new Error('no push hub');
    return { counters: await push.requestInfraCounters(c.node, c.id) };
  } catch (err) {
    return { counters: null, countersError: `node ${c.node}: ${(err as Error).message}`.slice(0, 500) };
  }
}

/**
 * The create of a tenant without image repositories (the common case), or null, having written
 * nothing, when the tenant has some. Whether it has is read once per batch: a create then costs
 * the batch's transaction one round trip, the insert, and no transaction of its own.
 */
async function createWithoutRepos(q: Queryable, tenant: Tenant, body: ContainerCreate, op: string, memo: TxMemo) {
  memo.repos ??= new Map();
  let has = memo.repos.get(tenant.id);
  if (has === undefined) memo.repos.set(tenant.id, (has = await hasImageRepos(q, tenant.id)));
  return has ? null : createContainer(q, tenant, { ...body, image: directoryImage(tenant.name, body.image, op) }, op, memo);
}

export const containerRoutes = [
  route<ContainerCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/containers',
    response: ContainerResponse,
    errors: [
      'reserved_name',
      'network_not_found',
      'pool_exhausted',
      'port_in_use',
      'image_not_found',
      'node_not_found',
      'node_lacks_physical_network',
      'security_group_not_found',
      'address_in_use',
      'address_reserved',
      'mac_in_use',
      'image_repo_unavailable',
      'image_repo_invalid',
      'image_repo_bad_signature',
      'image_repo_rollback',
    ],
    summary:
      'create a container: schedule it, allocate its addresses and MACs ' +
      '(image freight-infra and names infra-* are reserved: 400 reserved_name)',
    op: 'create container',
    target: ({ params, body }) => `${params.tenant}/${body.name}`,
    auth: 'any',
    body: ContainerCreate,
    bodyLimit: BODY_LIMITS.containerCreate,
    adminFields: ['node'],
    status: 201,
    handler: async ({ body, tenant, op, deps }) => {
      assertNotReserved(body, op);
      const plain = await deps.batch.run((q, memo) => createWithoutRepos(q, tenant, body, op, memo));
      if (plain) return plain;
      // outside the transaction: reading the tenant's repositories may take a network round trip
      const image = await imageForCreate(deps.db, tenant.name, body.image, op, deps.images);
      const pinned = { ...body, image };
      return deps.batch.run((q, memo) => createContainer(q, tenant, pinned, op, memo));
    },
  }),
  route<undefined, ContainerListQuery>({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers',
    response: Page(ContainerResponse),
    summary: "list a tenant's containers",
    op: 'list containers',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    query: ContainerListQuery,
    handler: async ({ query: { limit, after, label, ...fields }, tenant, deps }) =>
      listContainers(deps.db, tenant, limit, after, { label, fields }),
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers/:name',
    response: ContainerResponse,
    summary: 'show a container (an infra instance: with its DHCP/DNS counters, asked of its node)',
    op: 'get container',
    target: ({ params }) => `${params.tenant}/${params.name}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      const c = await getContainer(deps.db, tenant, params.name, op);
      return c.kind === 'infra' ? { ...c, ...(await infraCounters(deps.push, c)) } : c;
    },
  }),
  route<ContainerPatch>({
    method: 'PATCH',
    url: '/v1/tenants/:tenant/containers/:name',
    response: ContainerResponse,
    errors: ['port_in_use', 'security_group_not_found'],
    summary:
      'change a container in place (JSON merge patch: null resets a field): restart policy, limits (applied to the running ' +
      'container), description, labels; name, image, command, boot, networks and node are fixed (409 immutable_field)',
    op: 'update container',
    target: ({ params }) => `${params.tenant}/${params.name}`,
    auth: 'any',
    body: ContainerPatch,
    handler: ({ params, body, tenant, op, deps }) => deps.db.tx(async (q) => patchContainer(q, tenant, params.name, body, op)),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/containers/:name',
    response: null,
    summary: 'delete a container and free its addresses',
    op: 'delete container',
    target: ({ params }) => `${params.tenant}/${params.name}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      await deleteContainer(deps.db, tenant, params.name, op);
      return undefined;
    },
  }),
  route<z.infer<typeof ContainerAction>>({
    method: 'POST',
    url: '/v1/tenants/:tenant/containers/:name/actions',
    response: ContainerResponse,
    summary: 'start or stop a container (sets its desired state)',
    op: 'container action',
    describe: ({ params, body }) => `${body.action} container ${params.tenant}/${params.name}`,
    auth: 'any',
    body: ContainerAction,
    handler: async ({ params, body, tenant, op, deps }) => {
      const state = body.action === 'start' ? 'running' : 'stopped';
      return setDesiredState(deps.db, tenant, params.name, state, op);
    },
  }),
  route<ContainerAttach>({
    method: 'POST',
    url: '/v1/tenants/:tenant/containers/:name/networks',
    summary:
      'plug a network into a container (docker network connect), running or not: the next interface (eth1…), its address and ' +
      'MAC chosen or allocated; a running container gets it hot-plugged and takes its address by DHCP',
    op: 'attach container',
    describe: ({ params, body }) => `attach container ${params.tenant}/${params.name} to network ${body.network}`,
    auth: 'any',
    body: ContainerAttach,
    response: ContainerResponse,
    errors: [
      'network_not_found',
      'conflict',
      'node_lacks_physical_network',
      'pool_exhausted',
      'address_in_use',
      'address_reserved',
      'mac_in_use',
    ],
    handler: ({ params, body, tenant, op, deps }) => deps.db.tx(async (q) => attachContainerNetwork(q, tenant, params.name, body, op)),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/containers/:name/networks/:network',
    summary: 'unplug a network from a container (docker network disconnect): its interface and address go',
    op: 'detach container',
    describe: ({ params }) => `detach container ${params.tenant}/${params.name} from network ${params.network}`,
    auth: 'any',
    response: ContainerResponse,
    // not_found: the container is not on that network; conflict: its only network, or its only routed one while it publishes ports
    errors: ['not_found', 'conflict'],
    handler: ({ params, tenant, op, deps }) => deps.db.tx(async (q) => detachContainerNetwork(q, tenant, params.name, params.network, op)),
  }),
  route<undefined, z.infer<typeof LogsQuery>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers/:name/logs',
    response: LogsResponse,
    errors: ['node_unavailable', 'container_not_running'],
    summary: "a container's recent output, fetched from its node",
    op: 'container logs',
    describe: ({ params }) => `logs of container ${params.tenant}/${params.name}`,
    auth: 'any',
    query: LogsQuery,
    handler: async ({ params, query, tenant, op, deps }) => {
      const c = await getContainer(deps.db, tenant, params.name, op);
      if (!c.node) throw new ApiError('node_unavailable', `${op}: not scheduled on a node yet`);
      try {
        return { container: c.name, node: c.node, text: await deps.push.requestLogs(c.node, c.id, query.tail) };
      } catch (err) {
        throw new ApiError('node_unavailable', `${op}: node ${c.node}: ${(err as Error).message}`, undefined, { cause: err });
      }
    },
  }),
];
