import { z } from 'zod';
import { Pagination, TokenCreate } from '../../protocol/api.js';
import { Name } from '../../protocol/common.js';
import { schedulePending } from '../scheduler.js';
import { listEndpoints } from '../store/endpoints.js';
import { clusterStatus, deleteNode, getNode, listNodes } from '../store/nodes.js';
import { createToken, listTokens, revokeToken } from '../store/tokens.js';
import { guard } from './guard.js';
import { route, tenantOf } from './route.js';

const EndpointsQuery = Pagination.extend({ network: Name.optional() });

export const clusterRoutes = [
  route<undefined, z.infer<typeof EndpointsQuery>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/endpoints',
    summary: 'the IP/MAC → node mapping table of a tenant (infra endpoints included)',
    op: 'list endpoints',
    auth: 'any',
    query: EndpointsQuery,
    handler: ({ params, query, tenant, deps }) => {
      const op = `list endpoints of ${params.tenant}`;
      return guard(op, async () =>
        listEndpoints(deps.db, tenantOf(tenant, params.tenant, op), query.network, query.limit, query.after),
      );
    },
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/nodes',
    summary: 'list nodes',
    op: 'list nodes',
    auth: 'admin',
    query: Pagination,
    handler: ({ query, deps }) => guard('list nodes', () => listNodes(deps.db, query.limit, query.after)),
  }),
  route({
    method: 'GET',
    url: '/v1/nodes/:node',
    summary: 'show a node',
    op: 'get node',
    auth: 'admin',
    handler: ({ params, deps }) => guard(`get node ${params.node}`, () => getNode(deps.db, params.node, 'get node')),
  }),
  route({
    method: 'DELETE',
    url: '/v1/nodes/:node',
    summary: 'remove a node; its containers are rescheduled',
    op: 'delete node',
    auth: 'admin',
    owner: true,
    handler: async ({ params, deps }) => {
      const op = `delete node ${params.node}`;
      await guard(op, () => deps.db.tx((q) => deleteNode(q, params.node, op)));
      await schedulePending(deps.db).catch((err) => deps.log.warn({ err, node: params.node }, 'reschedule after node delete failed'));
      return undefined;
    },
  }),
  route({
    method: 'GET',
    url: '/v1/status',
    summary: 'per node: ready, last seen, desired and applied revision, lag; newest revision',
    op: 'status',
    auth: 'admin',
    handler: ({ deps }) => guard('status', () => clusterStatus(deps.db)),
  }),
  route<TokenCreate>({
    method: 'POST',
    url: '/v1/tokens',
    summary: 'create a token (the secret is shown once)',
    op: 'create token',
    auth: 'admin',
    owner: true,
    body: TokenCreate,
    status: 201,
    handler: ({ body, deps }) => guard(`create ${body.kind} token`, () => deps.db.tx((q) => createToken(q, body, `create ${body.kind} token`))),
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/tokens',
    summary: 'list tokens (no secrets)',
    op: 'list tokens',
    auth: 'admin',
    owner: true,
    query: Pagination,
    handler: ({ query, deps }) => guard('list tokens', () => listTokens(deps.db, query.limit, query.after)),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tokens/:id',
    summary: 'revoke a token',
    op: 'revoke token',
    auth: 'admin',
    owner: true,
    handler: ({ params, deps }) => guard(`revoke token ${params.id}`, () => revokeToken(deps.db, params.id, 'revoke token')),
  }),
];
