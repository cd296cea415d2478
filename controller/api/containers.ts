import { z } from 'zod';
import { ContainerAction, ContainerCreate, Pagination } from '../../protocol/api.js';
import { ApiError } from '../errors.js';
import { assertNotReserved } from '../reserved.js';
import { createContainer, deleteContainer, getContainer, listContainers, setDesiredState } from '../store/containers.js';
import { guard } from './guard.js';
import { imageForCreate } from '../images/resolve.js';
import { BODY_LIMITS, route, tenantOf } from './route.js';

const LogsQuery = z.object({ tail: z.coerce.number().int().min(1).max(100_000).default(100) });

export const containerRoutes = [
  route<ContainerCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/containers',
    summary:
      'create a container: schedule it, allocate its addresses and MACs ' +
      '(image freight-infra and names infra-* are reserved: 400 reserved_name)',
    op: 'create container',
    auth: 'any',
    body: ContainerCreate,
    bodyLimit: BODY_LIMITS.containerCreate,
    adminFields: ['node'],
    status: 201,
    handler: async ({ params, body, tenant, deps }) => {
      const op = `create container ${params.tenant}/${body.name}`;
      const t = tenantOf(tenant, params.tenant, op);
      assertNotReserved(body, op);
      // outside the transaction: reading the tenant's repositories may take a network round trip
      const image = await guard(op, () => imageForCreate(deps.db, t.name, body.image, op, deps.images));
      const pinned = { ...body, image };
      return guard(op, () => deps.batch.run((q, memo) => createContainer(q, t, pinned, op, memo)));
    },
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers',
    summary: "list a tenant's containers",
    op: 'list containers',
    auth: 'any',
    query: Pagination,
    handler: ({ params, query, tenant, deps }) => {
      const op = `list containers of ${params.tenant}`;
      return guard(op, async () => listContainers(deps.db, tenantOf(tenant, params.tenant, op), query.limit, query.after));
    },
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers/:name',
    summary: 'show a container',
    op: 'get container',
    auth: 'any',
    handler: ({ params, tenant, deps }) => {
      const op = `get container ${params.tenant}/${params.name}`;
      return guard(op, async () => getContainer(deps.db, tenantOf(tenant, params.tenant, op), params.name, op));
    },
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/containers/:name',
    summary: 'delete a container and free its addresses',
    op: 'delete container',
    auth: 'any',
    handler: async ({ params, tenant, deps }) => {
      const op = `delete container ${params.tenant}/${params.name}`;
      await guard(op, async () => deleteContainer(deps.db, tenantOf(tenant, params.tenant, op), params.name, op));
      return undefined;
    },
  }),
  route<z.infer<typeof ContainerAction>>({
    method: 'POST',
    url: '/v1/tenants/:tenant/containers/:name/actions',
    summary: 'start or stop a container (sets its desired state)',
    op: 'container action',
    auth: 'any',
    body: ContainerAction,
    handler: ({ params, body, tenant, deps }) => {
      const op = `${body.action} container ${params.tenant}/${params.name}`;
      const state = body.action === 'start' ? 'running' : 'stopped';
      return guard(op, async () => setDesiredState(deps.db, tenantOf(tenant, params.tenant, op), params.name, state, op));
    },
  }),
  route<undefined, z.infer<typeof LogsQuery>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers/:name/logs',
    summary: "a container's recent output, fetched from its node",
    op: 'container logs',
    auth: 'any',
    query: LogsQuery,
    handler: async ({ params, query, tenant, deps }) => {
      const op = `logs of container ${params.tenant}/${params.name}`;
      const c = await guard(op, async () => getContainer(deps.db, tenantOf(tenant, params.tenant, op), params.name, op));
      if (!c.node) throw new ApiError('node_unavailable', `${op}: not scheduled on a node yet`);
      try {
        return { container: c.name, node: c.node, text: await deps.push.requestLogs(c.node, c.id, query.tail) };
      } catch (err) {
        throw new ApiError('node_unavailable', `${op}: node ${c.node}: ${(err as Error).message}`);
      }
    },
  }),
];
