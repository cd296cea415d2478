import { z } from 'zod';
import { Cidr4, Ipv4, Mac, NetworkType, RestartPolicy } from './common.js';
import { NetworkParams } from './network-params.js';
import { DhcpOptions, DnsUpstreams } from './meta.js';

/**
 * A node's view: exactly the state one node needs, keyed by object id so that
 * deltas are upserts and removals of single items.
 */
/**
 * A tenant router as its networks carry it: every node hosting one of its networks gets all of
 * them (distributed routing). `slot` is unique cluster-wide: the node's transfer link addresses.
 */
/** A router's external network (a physical network marked external): where its egress and floating IPs go. */
export const ViewExternalNetwork = z.object({
  id: z.string(),
  physicalNetwork: z.string(),
  vlan: z.number().int().min(1).max(4094).optional(),
  cidr: Cidr4,
  gateway: Ipv4.nullable(),
  /** the network's MTU, or this node's mapped interface's */
  mtu: z.number().int(),
});
export type ViewExternalNetwork = z.infer<typeof ViewExternalNetwork>;
export const ViewRouter = z.object({
  id: z.string(),
  name: z.string(),
  external: z.boolean(),
  slot: z.number().int().min(0).max(8191),
  /** Optional: egress goes out on this external network (source NAT to `externalIp`) instead of the node underlay. */
  externalNetwork: ViewExternalNetwork.optional(),
  /** This node's address on the external network (absent: none allocated, e.g. an exhausted pool: no egress here). */
  externalIp: Ipv4.optional(),
});
export type ViewRouter = z.infer<typeof ViewRouter>;

export const ViewNetwork = z.object({
  id: z.string(),
  tenant: z.string(),
  name: z.string(),
  type: NetworkType,
  /** null for physical networks (no tunnel). */
  vni: z.number().int().nullable(),
  /** Optional (older controllers omit it): the type's defaults (ports 4789/6081) then. */
  params: NetworkParams.optional(),
  /** Optional (older controllers omit it: true). false: the node configures addresses itself, the infra container serves DNS only. */
  dhcp: z.boolean().optional(),
  cidr: Cidr4,
  gateway: Ipv4.nullable(),
  /** MTU inside the network (veths, DHCP option 26): underlay MTU minus overhead, or the admin's value. */
  mtu: z.number().int(),
  domain: z.string(),
  /** Optional (older controllers omit it): DHCP options the network's infra adds (routes, NTP, DNS servers, search). */
  dhcpOptions: DhcpOptions.optional(),
  /** Optional: where the network's infra forwards other names; absent → the agent's --dns-upstream. */
  dnsUpstreams: DnsUpstreams.optional(),
  /** Underlay IPs of the other nodes with endpoints on this network: head-end replication targets. */
  flood: z.array(Ipv4),
  /** The tenant router the network is attached to (absent: none, or an older controller). */
  router: ViewRouter.optional(),
});
export type ViewNetwork = z.infer<typeof ViewNetwork>;

/**
 * A security group rule as nodes enforce it (docs/security.md). `remoteGroup` is a group id: its
 * members' addresses come from the endpoints' `groups`; neither remote: any address.
 */
export const ViewSecurityRule = z.object({
  id: z.string(),
  direction: z.enum(['ingress', 'egress']),
  proto: z.enum(['tcp', 'udp', 'icmp', 'any']),
  portMin: z.number().int().min(1).max(65535).optional(),
  portMax: z.number().int().min(1).max(65535).optional(),
  /** several ranges (sorted, disjoint): the rule matches any of them; portMin/portMax are then the first */
  ports: z.array(z.tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)])).optional(),
  remoteCidr: z.string().optional(),
  remoteGroup: z.string().optional(),
});
export type ViewSecurityRule = z.infer<typeof ViewSecurityRule>;
export const ViewSecurityGroup = z.object({ id: z.string(), name: z.string(), rules: z.array(ViewSecurityRule) });
export type ViewSecurityGroup = z.infer<typeof ViewSecurityGroup>;

/** One row of the IP/MAC → node mapping table, for every endpoint of the node's networks. */
export const ViewEndpoint = z.object({
  id: z.string(),
  network: z.string(),
  kind: z.enum(['container', 'infra']),
  /** The container (or infra instance) whose interface this is. */
  owner: z.string(),
  /** DNS host name: the container name, `infra` for the infra instance. */
  name: z.string(),
  mac: Mac,
  ip: Ipv4,
  node: z.string(),
  /** Underlay IP of the hosting node (the VTEP). */
  vtep: Ipv4,
  /** Index of the interface inside the container: 0 → eth0. */
  ifindex: z.number().int().min(0),
  /** Plugged into the container after its creation (container attach): its node runs the DHCP exchange for it. */
  plugged: z.boolean().optional(),
  /**
   * The security group ids of its container (kind container): a membership change is this one
   * small item. Absent (infra, older controllers): the address is in no group.
   */
  groups: z.array(z.string()).optional(),
});
export type ViewEndpoint = z.infer<typeof ViewEndpoint>;

/**
 * Where an RPM image comes from: the repositories of the container's tenant and the
 * public keys its images must be signed with. Present exactly when the container's
 * image is pinned (`NAME:VERSION`); absent for directory images (`<stateDir>/images/NAME`).
 */
export const ImageSource = z.object({
  repos: z.array(z.object({ name: z.string(), url: z.string(), publicKey: z.string() })),
});
export type ImageSource = z.infer<typeof ImageSource>;

/**
 * Per-container limits the node's kernel enforces (cgroup): memory in bytes, CPUs as a
 * fraction of cores (null: no quota, fair share), the number of tasks. The defaults are the
 * node's when an older controller sends none.
 */
export const ContainerLimits = z.object({
  memory: z
    .number()
    .int()
    .min(16 * 1024 * 1024)
    .max(2 ** 50),
  cpus: z.number().min(0.01).max(1024).nullable(),
  pids: z.number().int().min(16).max(4_194_304),
});
export type ContainerLimits = z.infer<typeof ContainerLimits>;
export const DEFAULT_LIMITS: ContainerLimits = { memory: 512 * 1024 * 1024, cpus: null, pids: 1024 };

/** A published port (`--publish 8080:80/tcp`): DNAT on the hosting node from hostIp:hostPort (underlay IP when absent). */
export const ViewPublish = z.object({
  proto: z.enum(['tcp', 'udp']),
  hostIp: Ipv4.optional(),
  hostPort: z.number().int().min(1).max(65535),
  port: z.number().int().min(1).max(65535),
});
export type ViewPublish = z.infer<typeof ViewPublish>;

/** A container this node runs (also the infra instances, kind `infra`). */
export const ViewContainer = z.object({
  id: z.string(),
  tenant: z.string(),
  name: z.string(),
  kind: z.enum(['container', 'infra']),
  image: z.string(),
  command: z.array(z.string()),
  boot: z.boolean(),
  restart: RestartPolicy,
  desired: z.enum(['running', 'stopped']),
  /** Generation of the desired spec: a change restarts the container. */
  generation: z.number().int(),
  /** Optional (older controllers omit it): the image is an RPM image from these repositories. */
  imageSource: ImageSource.optional(),
  /** Optional (older controllers omit it): the node applies DEFAULT_LIMITS then. */
  limits: ContainerLimits.optional(),
  /** Published ports, reached through the router of the container's first routed network. */
  publish: z.array(ViewPublish).optional(),
  /**
   * Its security groups with their rules (kind container). Present: its ports are filtered (an
   * empty list accepts only replies, DHCP and DNS); absent (infra, older controllers): unfiltered.
   */
  securityGroups: z.array(ViewSecurityGroup).optional(),
  /** Floating IPs: one-to-one NAT on this node through the router whose external network they belong to. */
  floatingIps: z.array(z.object({ ip: Ipv4, network: z.string() })).optional(),
});
export type ViewContainer = z.infer<typeof ViewContainer>;

/** ESP transport-mode key material for one network and one peer node (ipsec networks). */
export const ViewKey = z.object({
  id: z.string(),
  network: z.string(),
  peer: z.string(),
  peerIp: Ipv4,
  generation: z.number().int(),
  /** SPI and key of SAs this node sends with (outbound) and receives with (inbound). */
  spiOut: z.number().int(),
  spiIn: z.number().int(),
  keyOut: z.string().regex(/^[0-9a-f]{40}$/),
  keyIn: z.string().regex(/^[0-9a-f]{40}$/),
  /** Rotation phase: `inbound` installs inbound only, `active` sends with it, `retiring` is kept inbound only until removed. */
  phase: z.enum(['inbound', 'active', 'retiring']),
});
export type ViewKey = z.infer<typeof ViewKey>;

export const NodeView = z.object({
  node: z.string(),
  underlayIp: Ipv4,
  revision: z.number().int(),
  networks: z.record(z.string(), ViewNetwork),
  endpoints: z.record(z.string(), ViewEndpoint),
  containers: z.record(z.string(), ViewContainer),
  keys: z.record(z.string(), ViewKey),
});
export type NodeView = z.infer<typeof NodeView>;

export const VIEW_KINDS = ['networks', 'endpoints', 'containers', 'keys'] as const;

/** One delta operation: `value` present → upsert, absent → remove. */
export const ViewOp = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('networks'), id: z.string(), value: ViewNetwork.optional() }),
  z.object({ kind: z.literal('endpoints'), id: z.string(), value: ViewEndpoint.optional() }),
  z.object({ kind: z.literal('containers'), id: z.string(), value: ViewContainer.optional() }),
  z.object({ kind: z.literal('keys'), id: z.string(), value: ViewKey.optional() }),
]);
export type ViewOp = z.infer<typeof ViewOp>;

export function emptyView(node: string, underlayIp: string): NodeView {
  return { node, underlayIp, revision: 0, networks: {}, endpoints: {}, containers: {}, keys: {} };
}

/** Applies delta ops to a view, returning a new view (the input is not changed). */
export function applyOps(view: NodeView, ops: ViewOp[], revision: number): NodeView {
  const next: NodeView = {
    ...view,
    revision,
    networks: { ...view.networks },
    endpoints: { ...view.endpoints },
    containers: { ...view.containers },
    keys: { ...view.keys },
  };
  for (const op of ops) {
    const table = next[op.kind] as Record<string, unknown>;
    if (op.value === undefined) delete table[op.id];
    else table[op.id] = op.value;
  }
  return next;
}
