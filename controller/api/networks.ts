import { NetworkCreate, NetworkListQuery } from '../../protocol/api.js';
import { KeyRotationResponse, NetworkResponse, Page } from '../../protocol/responses.js';
import { ApiError } from '../errors.js';
import { hostRange, ip4ToInt } from '../../protocol/addr.js';
import { NetworkPatch } from '../../protocol/patch.js';
import { createNetwork, deleteNetwork, getNetwork, listNetworks, requestKeyRotation } from '../store/networks.js';
import { patchNetwork } from '../store/network-patch.js';
import { checkDhcpOptions } from '../dhcp-options.js';
import { assertNetworkNameFree } from '../reserved.js';
import { route } from './route.js';

/** The gateway must be a host address of the CIDR; checked here to answer with its field path. */
function checkGateway(body: NetworkCreate, op: string): void {
  if (!body.gateway) return;
  const r = hostRange(body.cidr);
  const gw = ip4ToInt(body.gateway);
  if (gw < r.first || gw > r.last)
    throw new ApiError('invalid', `${op}: gateway ${body.gateway} is not a host address of ${body.cidr}`, 'gateway');
}

export const networkRoutes = [
  route<NetworkCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/networks',
    response: NetworkResponse,
    errors: ['overlap', 'admin_only_network_type', 'reserved_name', 'pool_exhausted'],
    summary: 'create a network and its infra instance',
    op: 'create network',
    target: ({ params, body }) => `${params.tenant}/${body.name}`,
    auth: 'any',
    body: NetworkCreate,
    adminFields: ['vni'],
    status: 201,
    handler: ({ body, tenant, op, deps, principal }) => {
      // a physical segment is the operator's: putting a tenant on it (and choosing its VLAN) is an admin's decision
      if (body.type === 'physical' && principal.kind !== 'admin')
        throw new ApiError('admin_only_network_type', `${op}: physical networks are created with an admin token only`, 'type');
      checkGateway(body, op);
      checkDhcpOptions(body.cidr, body.dhcpOptions, op);
      assertNetworkNameFree(body.name, op);
      return deps.db.tx(async (q) => createNetwork(q, tenant, body, op));
    },
  }),
  route<undefined, NetworkListQuery>({
    method: 'GET',
    url: '/v1/tenants/:tenant/networks',
    response: Page(NetworkResponse),
    summary: "list a tenant's networks",
    op: 'list networks',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    query: NetworkListQuery,
    handler: async ({ query: { limit, after, label, ...fields }, tenant, deps }) =>
      listNetworks(deps.db, tenant, limit, after, { label, fields }),
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/networks/:network',
    response: NetworkResponse,
    summary: 'show a network',
    op: 'get network',
    target: ({ params }) => `${params.tenant}/${params.network}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => getNetwork(deps.db, tenant, params.network, op),
  }),
  route<NetworkPatch>({
    method: 'PATCH',
    url: '/v1/tenants/:tenant/networks/:network',
    response: NetworkResponse,
    errors: ['invalid'],
    summary:
      'change a network in place (JSON merge patch: null resets a field): mtu, domain, DHCP options, DNS upstreams, description, ' +
      'labels; name, type, cidr, gateway and vni are fixed (409 immutable_field)',
    op: 'update network',
    target: ({ params }) => `${params.tenant}/${params.network}`,
    auth: 'any',
    body: NetworkPatch,
    handler: ({ params, body, tenant, op, deps }) => deps.db.tx(async (q) => patchNetwork(q, tenant, params.network, body, op)),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/networks/:network',
    response: null,
    errors: ['in_use'],
    summary: 'delete a network with no containers attached (its infra instance goes with it)',
    op: 'delete network',
    target: ({ params }) => `${params.tenant}/${params.network}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      await deps.db.tx(async (q) => deleteNetwork(q, tenant, params.network, op));
      return undefined;
    },
  }),
  route({
    method: 'POST',
    url: '/v1/tenants/:tenant/networks/:network/rotate-keys',
    response: KeyRotationResponse,
    summary: "rotate an ipsec network's keys now (the key manager does it with overlap; keys are never returned)",
    op: 'rotate keys',
    target: ({ params }) => `of network ${params.tenant}/${params.network}`,
    auth: 'any',
    status: 202,
    handler: ({ params, tenant, op, deps }) => deps.db.tx(async (q) => requestKeyRotation(q, tenant, params.network, op)),
  }),
];
