import { z } from 'zod';
import { Labels, DhcpOptions } from './meta.js';
import { AddressPool, NetworkParams } from './network-params.js';

/**
 * What the REST API answers: one zod schema per object, shared by the controller (its
 * /openapi.json response schemas, checked against real answers by controller/api/openapi.test.ts)
 * and freightctl (which parses answers with them). Objects are loose: a field added to an answer
 * is not an error for an older freightctl, and freightctl's `-o json` prints it; every field
 * listed here must be present with its type.
 */

const Time = z.string().describe('RFC 3339 time, UTC');
const Nullable = <T extends z.ZodType>(t: T) => t.nullable();

export const TenantResponse = z.looseObject({
  id: z.string(),
  name: z.string(),
  description: Nullable(z.string()),
  labels: Labels,
  createdAt: Time,
  updatedAt: Time,
});
export type TenantResponse = z.infer<typeof TenantResponse>;

export const NetworkResponse = z.looseObject({
  id: z.string(),
  tenant: z.string(),
  name: z.string(),
  type: z.enum(['vxlan', 'geneve', 'ipsec', 'physical']),
  vni: Nullable(z.number().int()).describe('null for physical networks'),
  params: NetworkParams,
  cidr: z.string(),
  gateway: Nullable(z.string()),
  pools: z.array(AddressPool),
  dhcp: z.boolean(),
  external: z.boolean().describe('an external network (router gateways and floating IPs of every tenant)'),
  mtu: Nullable(z.number().int()).describe("null: each node's underlay MTU minus the encapsulation overhead"),
  domain: z.string(),
  infra: Nullable(z.looseObject({ name: z.string(), ip: z.string(), mac: z.string(), node: Nullable(z.string()) })),
  description: Nullable(z.string()),
  labels: Labels,
  dhcpOptions: DhcpOptions,
  dnsUpstreams: Nullable(z.array(z.string())).describe("null: the hosting agent's --dns-upstream"),
  createdAt: Time,
  updatedAt: Time,
});
export type NetworkResponse = z.infer<typeof NetworkResponse>;

/** An infra instance's DHCP/DNS counters as its node scraped them for this answer (docs/infra.md). */
export const InfraCountersResponse = z.looseObject({
  dhcpLeases: z.number().int().describe('leases handed out and not expired'),
  dhcpAnswers: z.number().int().describe('DHCP offers, acks, naks and informs sent'),
  dhcpPackets: z.number().int().describe('DHCP packets received'),
  dhcpErrors: z.number().int().describe('malformed DHCP packets and handler failures'),
  dnsQueries: z.number().int().describe('DNS messages received (UDP and TCP)'),
  dnsErrors: z.number().int().describe('malformed DNS messages, failed forwards, SERVFAIL answers'),
  dnsForwarded: z.number().int().describe('DNS queries forwarded upstream'),
});

export const ContainerResponse = z.looseObject({
  id: z.string(),
  tenant: z.string(),
  name: z.string(),
  kind: z.enum(['container', 'infra']),
  image: z.string(),
  command: z.array(z.string()),
  boot: z.boolean(),
  restart: z.string(),
  node: Nullable(z.string()),
  desiredState: z.string(),
  observedState: z.string(),
  exitCode: Nullable(z.number().int()),
  reason: Nullable(z.string()),
  restarts: z.number().int(),
  memory: z.number().int().describe('bytes'),
  cpus: Nullable(z.number()).describe('cores; null: no quota'),
  pids: z.number().int(),
  endpoints: z.array(z.looseObject({ network: z.string(), ip: z.string(), mac: z.string() })),
  publish: z.array(z.looseObject({ hostPort: z.number().int(), port: z.number().int(), proto: z.string(), hostIp: Nullable(z.string()) })),
  description: Nullable(z.string()),
  labels: Labels,
  createdAt: Time,
  updatedAt: Time,
  counters: Nullable(InfraCountersResponse)
    .optional()
    .describe(
      'GET of an infra instance only: its DHCP/DNS counters since the server started, scraped by its node now; ' +
        'null when the node did not answer (countersError says why)',
    ),
  countersError: z.string().optional().describe('why counters is null'),
});
export type ContainerResponse = z.infer<typeof ContainerResponse>;

export const RouterResponse = z.looseObject({
  tenant: z.string(),
  name: z.string(),
  external: z.boolean(),
  externalNetwork: Nullable(z.string()).describe('the external network egress is source-NATed into (TENANT/NAME); null: the node underlay'),
  gateways: z
    .array(z.looseObject({ node: z.string(), ip: z.string() }))
    .describe("with an external network: the router's address on each node"),
  networks: z.array(z.looseObject({ name: z.string(), cidr: z.string(), gateway: Nullable(z.string()) })),
  createdAt: Time,
});

export const FloatingIpResponse = z.looseObject({
  id: z.string(),
  tenant: z.string(),
  network: z.string().describe('the external network, TENANT/NAME'),
  ip: z.string(),
  container: Nullable(z.string()),
  node: Nullable(z.string()).describe("the associated container's node, which answers for the address"),
  createdAt: Time,
});

export const SecurityRuleResponse = z.looseObject({
  id: z.string(),
  direction: z.enum(['ingress', 'egress']),
  proto: z.enum(['tcp', 'udp', 'icmp', 'any']),
  portMin: Nullable(z.number().int()).describe('the lowest port (null: any port)'),
  portMax: Nullable(z.number().int()).describe('the highest port'),
  ports: Nullable(z.array(z.union([z.number().int(), z.string()]))).describe(
    'the exact port set: a number per port, FIRST-LAST per range (null: any port)',
  ),
  remoteCidr: Nullable(z.string()),
  remoteGroup: Nullable(z.string()),
});
export const SecurityGroupResponse = z.looseObject({
  tenant: z.string(),
  name: z.string(),
  description: Nullable(z.string()),
  rules: z.array(SecurityRuleResponse),
  members: z.array(z.string()),
  createdAt: Time,
});

/** `GET …/security-groups/:group/stats`: per-rule packets and bytes summed over the nodes that answered. */
export const SecurityGroupStatsResponse = z.looseObject({
  group: z.string(),
  nodes: z.array(z.string()),
  missing: z.array(z.string()),
  rules: z.record(z.string(), z.looseObject({ packets: z.number(), bytes: z.number() })),
});

export const EndpointResponse = z.looseObject({
  container: z.string(),
  kind: z.enum(['container', 'infra']),
  network: z.string(),
  ip: z.string(),
  mac: z.string(),
  node: Nullable(z.string()),
  nodeUnderlayIp: Nullable(z.string()),
});

export const NodeResponse = z.looseObject({
  id: z.string(),
  name: z.string(),
  underlayIp: z.string(),
  underlayMtu: z.number().int(),
  ready: z.boolean(),
  lastSeen: Nullable(Time),
  capabilities: z.unknown().describe('kernel capabilities the agent reported (vxlan, geneve, esp, …, details, physicalNetworks)'),
  appliedRevision: z.number().int(),
  desiredRevision: z.number().int(),
  lag: z.number().int(),
  containers: z.number().int(),
});

export const StatusResponse = z.looseObject({
  revision: z.number().int(),
  nodes: z.array(
    z.looseObject({
      name: z.string(),
      ready: z.boolean(),
      lastSeen: Nullable(Time),
      desiredRevision: z.number().int(),
      appliedRevision: z.number().int(),
      lag: z.number().int(),
      containers: z.number().int(),
    }),
  ),
});

export const TokenResponse = z.looseObject({
  id: z.string(),
  kind: z.enum(['admin', 'tenant', 'node']),
  tenant: Nullable(z.string()),
  node: Nullable(z.string()),
  createdAt: Time,
  revokedAt: Nullable(Time),
});
export const TokenCreated = TokenResponse.extend({ token: z.string().describe('the secret, shown this once') });

export const AuditEntryResponse = z.looseObject({
  id: z.number().int(),
  at: Time,
  actor: z.string(),
  tenant: Nullable(z.string()),
  method: z.string(),
  path: z.string(),
  status: z.number().int(),
  source: Nullable(z.string()),
  action: Nullable(z.string()),
  object: Nullable(z.string()),
  outcome: z.enum(['success', 'failure']),
  code: Nullable(z.string()),
  count: z.number().int(),
});

export const KeyRotationResponse = z.looseObject({ network: z.string(), requestedAt: Time });
export const LogsResponse = z.looseObject({ container: z.string(), node: Nullable(z.string()), text: z.string() });

export const RepositoryResponse = z.looseObject({
  id: z.string(),
  tenant: z.string(),
  name: z.string(),
  url: z.string(),
  publicKey: z.string(),
  allowHttp: z.boolean(),
  metadata: z.looseObject({ revision: Nullable(z.number()), timestamp: Nullable(z.number()), signed: z.boolean() }),
  createdAt: Time,
});

const Component = z.looseObject({
  name: z.string(),
  epoch: z.number().int(),
  version: z.string(),
  release: z.string(),
  arch: z.string(),
  key: Nullable(z.string()),
});
export const PackagesResponse = z.looseObject({
  container: z.string(),
  node: Nullable(z.string()),
  image: z.string(),
  items: z.array(Component),
  invalid: z.number().int(),
  truncated: z.boolean(),
});
const ComponentUpdate = z.looseObject({
  name: z.string(),
  arch: z.string(),
  current: z.string(),
  newest: z.string(),
  repository: z.string(),
  trusted: z.boolean(),
  reason: z.string().optional(),
  image: Nullable(z.string()),
});
export const ComponentsOutdatedResponse = z.looseObject({
  container: z.string(),
  image: z.string(),
  items: z.array(ComponentUpdate),
  next: z.null(),
});
export const ImageOutdatedResponse = z.looseObject({
  tenant: z.string(),
  container: z.string(),
  name: z.string(),
  current: z.string(),
  newest: z.string(),
  components: z.array(ComponentUpdate).optional(),
});

/** A page of a list: `next` is the cursor of the following page (`?after=`), null on the last. */
export const Page = <T extends z.ZodType>(item: T) => z.looseObject({ items: z.array(item), next: z.string().nullable() });
