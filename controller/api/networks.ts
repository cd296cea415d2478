import { z } from 'zod';
import { NetworkCreate, Pagination } from '../../protocol/api.js';
import { ApiError } from '../errors.js';
import { hostRange, ip4ToInt } from '../../protocol/addr.js';
import { createNetwork, deleteNetwork, getNetwork, listNetworks, requestKeyRotation } from '../store/networks.js';
import { guard } from './guard.js';
import { route, tenantOf } from './route.js';

/** The gateway must be a host address of the CIDR; checked here to answer with its field path. */
function checkGateway(body: NetworkCreate, op: string): void {
  if (!body.gateway) return;
  const r = hostRange(body.cidr);
  const gw = ip4ToInt(body.gateway);
  if (gw < r.first || gw > r.last) throw new ApiError('invalid', `${op}: gateway ${body.gateway} is not a host address of ${body.cidr}`, 'gateway');
}

export const networkRoutes = [
  route<NetworkCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/networks',
    summary: 'create a network and its infra instance',
    op: 'create network',
    auth: 'any',
    body: NetworkCreate,
    adminFields: ['vni'],
    status: 201,
    handler: ({ params, body, tenant, deps }) => {
      const op = `create network ${params.tenant}/${body.name}`;
      checkGateway(body, op);
      return guard(op, () => deps.db.tx(async (q) => createNetwork(q, tenantOf(tenant, params.tenant, op), body, op)));
    },
  }),
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/tenants/:tenant/networks',
    summary: "list a tenant's networks",
    op: 'list networks',
    auth: 'any',
    query: Pagination,
    handler: ({ params, query, tenant, deps }) => {
      const op = `list networks of ${params.tenant}`;
      return guard(op, async () => listNetworks(deps.db, tenantOf(tenant, params.tenant, op), query.limit, query.after));
    },
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/networks/:network',
    summary: 'show a network',
    op: 'get network',
    auth: 'any',
    handler: ({ params, tenant, deps }) => {
      const op = `get network ${params.tenant}/${params.network}`;
      return guard(op, async () => getNetwork(deps.db, tenantOf(tenant, params.tenant, op), params.network, op));
    },
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/networks/:network',
    summary: 'delete a network with no containers attached (its infra instance goes with it)',
    op: 'delete network',
    auth: 'any',
    handler: async ({ params, tenant, deps }) => {
      const op = `delete network ${params.tenant}/${params.network}`;
      await guard(op, () => deps.db.tx(async (q) => deleteNetwork(q, tenantOf(tenant, params.tenant, op), params.network, op)));
      return undefined;
    },
  }),
  route({
    method: 'POST',
    url: '/v1/tenants/:tenant/networks/:network/rotate-keys',
    summary: "rotate an ipsec network's keys now (the key manager does it with overlap; keys are never returned)",
    op: 'rotate keys',
    auth: 'any',
    status: 202,
    handler: ({ params, tenant, deps }) => {
      const op = `rotate keys of network ${params.tenant}/${params.network}`;
      return guard(op, () => deps.db.tx(async (q) => requestKeyRotation(q, tenantOf(tenant, params.tenant, op), params.network, op)));
    },
  }),
];
