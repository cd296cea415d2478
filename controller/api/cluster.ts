import { type z } from 'zod';
import { EndpointResponse, NodeResponse, Page, StatusResponse, TokenCreated, TokenResponse } from '../../protocol/responses.js';
import { Pagination, TokenCreate } from '../../protocol/api.js';
import { Name } from '../../protocol/common.js';
import { schedulePending } from '../scheduler.js';
import { listEndpoints } from '../store/endpoints.js';
import { getNetwork } from '../store/networks.js';
import { clusterStatus, deleteNode, getNode, listNodes } from '../store/nodes.js';
import { createToken, listTokens, revokeToken } from '../store/tokens.js';
import { route } from './route.js';

const EndpointsQuery = Pagination.extend({ network: Name.optional() });

export const clusterRoutes = [
  route<undefined, z.infer<typeof EndpointsQuery>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/endpoints',
    response: Page(EndpointResponse),
    errors: ['network_not_found'],
    summary: 'the IP/MAC → node mapping table of a tenant (infra endpoints included)',
    op: 'list endpoints',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    query: EndpointsQuery,
    handler: async ({ query, tenant, op, deps }) => {
      // a network that does not exist is a 404 like every other missing object, not an empty table
      if (query.network !== undefined) await getNetwork(deps.db, tenant, query.network, op);
      return listEndpoints(deps.db, tenant, query.network, query.limit, query.after);
    },
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/nodes',
    response: Page(NodeResponse),
    summary: 'list nodes',
    op: 'list nodes',
    auth: 'admin',
    query: Pagination,
    handler: ({ query, deps }) => listNodes(deps.db, query.limit, query.after),
  }),
  route({
    method: 'GET',
    url: '/v1/nodes/:node',
    response: NodeResponse,
    summary: 'show a node',
    op: 'get node',
    target: ({ params }) => params.node,
    auth: 'admin',
    handler: ({ params, deps }) => getNode(deps.db, params.node, 'get node'),
  }),
  route({
    method: 'DELETE',
    url: '/v1/nodes/:node',
    response: null,
    summary: 'remove a node; its containers are rescheduled',
    op: 'delete node',
    target: ({ params }) => params.node,
    auth: 'admin',
    owner: true,
    handler: async ({ params, op, deps }) => {
      await deps.db.tx((q) => deleteNode(q, params.node, op));
      await schedulePending(deps.db).catch((err) => deps.log.warn({ err, node: params.node }, 'reschedule after node delete failed'));
      return undefined;
    },
  }),
  route({
    method: 'GET',
    url: '/v1/status',
    response: StatusResponse,
    summary: 'per node: ready, last seen, desired and applied revision, lag; newest revision',
    op: 'status',
    auth: 'admin',
    handler: ({ deps }) => clusterStatus(deps.db),
  }),
  route<TokenCreate>({
    method: 'POST',
    url: '/v1/tokens',
    response: TokenCreated,
    errors: ['tenant_not_found'],
    summary: 'create a token (the secret is shown once)',
    op: 'create token',
    describe: ({ body }) => `create ${body.kind} token`,
    auth: 'admin',
    owner: true,
    body: TokenCreate,
    status: 201,
    handler: ({ body, op, deps }) => deps.db.tx((q) => createToken(q, body, op)),
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/tokens',
    response: Page(TokenResponse),
    summary: 'list tokens (no secrets)',
    op: 'list tokens',
    auth: 'admin',
    owner: true,
    query: Pagination,
    handler: ({ query, deps }) => listTokens(deps.db, query.limit, query.after),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tokens/:id',
    response: TokenResponse,
    summary: 'revoke a token',
    op: 'revoke token',
    target: ({ params }) => params.id,
    auth: 'admin',
    owner: true,
    handler: ({ params, deps }) => revokeToken(deps.db, params.id, 'revoke token'),
  }),
];
