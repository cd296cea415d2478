import { TenantCreate, TenantListQuery } from '../../protocol/api.js';
import { Page, TenantResponse } from '../../protocol/responses.js';
import { TenantPatch } from '../../protocol/patch.js';
import { createTenant, deleteTenant, getTenant, listTenants, patchTenant } from '../store/tenants.js';
import { route } from './route.js';

export const tenantRoutes = [
  route<TenantCreate>({
    method: 'POST',
    url: '/v1/tenants',
    response: TenantResponse,
    summary: 'create a tenant',
    op: 'create tenant',
    auth: 'admin',
    body: TenantCreate,
    status: 201,
    target: ({ body }) => body.name,
    handler: ({ body, deps }) => createTenant(deps.db, body),
  }),
  route<undefined, TenantListQuery>({
    method: 'GET',
    url: '/v1/tenants',
    response: Page(TenantResponse),
    summary: 'list tenants (a tenant token sees its own)',
    op: 'list tenants',
    auth: 'any',
    query: TenantListQuery,
    handler: ({ query, principal, deps }) => listTenants(deps.db, principal, query.limit, query.after, { label: query.label }),
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant',
    response: TenantResponse,
    summary: 'show a tenant',
    op: 'get tenant',
    auth: 'any',
    handler: async ({ tenant, deps }) => getTenant(deps.db, tenant),
  }),
  route<TenantPatch>({
    method: 'PATCH',
    url: '/v1/tenants/:tenant',
    response: TenantResponse,
    summary: "change a tenant's description or labels (JSON merge patch: null removes a field or label)",
    op: 'update tenant',
    target: ({ params }) => params.tenant,
    auth: 'admin',
    body: TenantPatch,
    handler: ({ body, tenant, op, deps }) => deps.db.tx(async (q) => patchTenant(q, tenant, body, op)),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant',
    response: null,
    errors: ['in_use'],
    summary: 'delete a tenant with no networks or containers',
    op: 'delete tenant',
    target: ({ params }) => params.tenant,
    auth: 'admin',
    handler: async ({ tenant, op, deps }) => {
      await deps.db.tx(async (q) => deleteTenant(q, tenant, op));
      return undefined;
    },
  }),
];
