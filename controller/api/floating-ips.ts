import { type z } from 'zod';
import { FloatingIpAssociate, FloatingIpCreate, Pagination } from '../../protocol/api.js';
import {
  associateFloatingIp,
  createFloatingIp,
  deleteFloatingIp,
  disassociateFloatingIp,
  getFloatingIp,
  listFloatingIps,
} from '../store/floating-ips.js';
import { route } from './route.js';
import { FloatingIpResponse, Page } from '../../protocol/responses.js';

/** Floating IPs (docs/api.md "Floating IPs"): allocated to a tenant, `:fip` its address or id; tenant tokens manage their own. */
export const floatingIpRoutes = [
  route<FloatingIpCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/floating-ips',
    response: FloatingIpResponse,
    summary: 'allocate a floating IP from an external network (TENANT/NAME) to the tenant',
    op: 'create floating ip',
    target: ({ params, body }) => `${params.tenant} from ${body.network}`,
    auth: 'any',
    body: FloatingIpCreate,
    status: 201,
    handler: ({ body, tenant, op, deps }) => deps.db.tx(async (q) => createFloatingIp(q, tenant, body, op)),
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/floating-ips',
    response: Page(FloatingIpResponse),
    summary: "list a tenant's floating IPs",
    op: 'list floating ips',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    query: Pagination,
    handler: async ({ query, tenant, deps }) => listFloatingIps(deps.db, tenant, query.limit, query.after),
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/floating-ips/:fip',
    response: FloatingIpResponse,
    summary: 'show a floating IP (by address or id) and its container',
    op: 'get floating ip',
    target: ({ params }) => `${params.tenant}/${params.fip}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => getFloatingIp(deps.db, tenant, params.fip, op),
  }),
  route<FloatingIpAssociate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/floating-ips/:fip/associate',
    response: FloatingIpResponse,
    summary: "associate to a container of the tenant on a router with the address's external network (one-to-one NAT on its node)",
    op: 'associate floating ip',
    describe: ({ params, body }) => `associate floating ip ${params.tenant}/${params.fip} to container ${body.container}`,
    auth: 'any',
    body: FloatingIpAssociate,
    handler: ({ params, body, tenant, op, deps }) =>
      deps.db.tx(async (q) => associateFloatingIp(q, tenant, params.fip, body.container, op)),
  }),
  route({
    method: 'POST',
    url: '/v1/tenants/:tenant/floating-ips/:fip/disassociate',
    response: FloatingIpResponse,
    summary: 'disassociate from its container (the address stays allocated to the tenant)',
    op: 'disassociate floating ip',
    target: ({ params }) => `${params.tenant}/${params.fip}`,
    auth: 'any',
    handler: ({ params, tenant, op, deps }) => deps.db.tx(async (q) => disassociateFloatingIp(q, tenant, params.fip, op)),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/floating-ips/:fip',
    response: null,
    summary: 'release a floating IP (its NAT goes with it)',
    op: 'delete floating ip',
    target: ({ params }) => `${params.tenant}/${params.fip}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      await deps.db.tx(async (q) => deleteFloatingIp(q, tenant, params.fip, op));
      return undefined;
    },
  }),
];
