import { type z } from 'zod';
import { Page, RouterResponse } from '../../protocol/responses.js';
import { Pagination, RouterAttach, RouterCreate, RouterUpdate } from '../../protocol/api.js';
import { attachNetwork, createRouter, deleteRouter, detachNetwork, getRouter, listRouters, updateRouter } from '../store/routers.js';
import { route } from './route.js';

/** Tenant routers (docs/api.md "Routers"): tenant tokens manage their own. */
export const routerRoutes = [
  route<RouterCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/routers',
    response: RouterResponse,
    summary: 'create a router (external: egress with source NAT through the hosting node)',
    op: 'create router',
    target: ({ params, body }) => `${params.tenant}/${body.name}`,
    auth: 'any',
    body: RouterCreate,
    status: 201,
    handler: ({ body, tenant, op, deps }) => deps.db.tx(async (q) => createRouter(q, tenant, body, op)),
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/routers',
    response: Page(RouterResponse),
    summary: "list a tenant's routers",
    op: 'list routers',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    query: Pagination,
    handler: async ({ query, tenant, deps }) => listRouters(deps.db, tenant, query.limit, query.after),
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/routers/:router',
    response: RouterResponse,
    summary: 'show a router and its attached networks',
    op: 'get router',
    target: ({ params }) => `${params.tenant}/${params.router}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => getRouter(deps.db, tenant, params.router, op),
  }),
  route<RouterUpdate>({
    method: 'PATCH',
    url: '/v1/tenants/:tenant/routers/:router',
    response: RouterResponse,
    summary: "change a router's settings (JSON merge patch: external)",
    op: 'update router',
    target: ({ params }) => `${params.tenant}/${params.router}`,
    auth: 'any',
    body: RouterUpdate,
    handler: ({ params, body, tenant, op, deps }) => deps.db.tx(async (q) => updateRouter(q, tenant, params.router, body, op)),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/routers/:router',
    response: null,
    errors: ['in_use'],
    summary: 'delete a router with no network attached',
    op: 'delete router',
    target: ({ params }) => `${params.tenant}/${params.router}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      await deps.db.tx(async (q) => deleteRouter(q, tenant, params.router, op));
      return undefined;
    },
  }),
  route<RouterAttach>({
    method: 'POST',
    url: '/v1/tenants/:tenant/routers/:router/attach',
    response: RouterResponse,
    errors: ['network_not_found', 'pool_exhausted'],
    summary: "attach a network: the router answers at its gateway (reserved when unset) on every node hosting the router's networks",
    op: 'attach network',
    describe: ({ params, body }) => `attach network ${params.tenant}/${body.network} to router ${params.router}`,
    auth: 'any',
    body: RouterAttach,
    handler: ({ params, body, tenant, op, deps }) => deps.db.tx(async (q) => attachNetwork(q, tenant, params.router, body.network, op)),
  }),
  route<RouterAttach>({
    method: 'POST',
    url: '/v1/tenants/:tenant/routers/:router/detach',
    response: RouterResponse,
    errors: ['network_not_found'],
    summary: 'detach a network from the router (its gateway address stays reserved)',
    op: 'detach network',
    describe: ({ params, body }) => `detach network ${params.tenant}/${body.network} from router ${params.router}`,
    auth: 'any',
    body: RouterAttach,
    handler: ({ params, body, tenant, op, deps }) => deps.db.tx(async (q) => detachNetwork(q, tenant, params.router, body.network, op)),
  }),
];
