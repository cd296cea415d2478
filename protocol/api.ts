import { z } from 'zod';
import { Cidr4, Domain, Ipv4, Mac, Name, NAME_RE, NetworkType, RestartPolicy } from './common.js';
import { AddressPool, defaultParams, NetworkParams } from './network-params.js';
import { networkIssues } from './network-rules.js';
import { Description, DhcpOptions, DnsUpstreams, Labels } from './meta.js';
import { ContainerGroups } from './security-groups.js';
import { LabelSelector } from './selectors.js';

/** REST request bodies. Every create route validates with one of these. */
export const TenantCreate = z.object({ name: Name, description: Description.optional(), labels: Labels.optional() }).strict();
export const NetworkCreate = z
  .object({
    name: Name,
    /** The network's type; the type of `params` when omitted, else vxlan. */
    type: NetworkType.optional(),
    params: NetworkParams.optional().describe('per-type parameters (defaults per type; required for physical networks)'),
    cidr: Cidr4,
    gateway: Ipv4.optional(),
    mtu: z.number().int().min(576).max(9000).optional(),
    domain: Domain.optional(),
    vni: z
      .number()
      .int()
      .min(1)
      .max(16_777_215)
      .optional()
      .describe('admin tokens only (a tenant token gets 403 admin_only_field); drawn at random among the free VNIs when omitted'),
    pools: z
      .array(AddressPool)
      .min(1)
      .max(16)
      .optional()
      .describe('allocation pools: container and infra addresses come only from these (required for physical networks)'),
    dhcp: z
      .boolean()
      .default(true)
      .describe('false: the node configures each container address, route and resolver; the infra container serves DNS only'),
    description: Description.optional(),
    labels: Labels.optional(),
    dhcpOptions: DhcpOptions.optional(),
    dnsUpstreams: DnsUpstreams.optional().describe("absent: the agent's --dns-upstream; []: forward nothing (REFUSED)"),
    external: z
      .boolean()
      .default(false)
      .describe(
        'physical networks only: an external network (Neutron router:external), ' +
          'which every tenant may name for router gateways and floating IPs',
      ),
  })
  .strict()
  .superRefine((v, ctx) => {
    for (const issue of networkIssues(v)) ctx.addIssue({ code: 'custom', ...issue });
  })
  .transform((v) => {
    const type = v.params?.type ?? v.type ?? 'vxlan';
    return { ...v, type, params: v.params ?? defaultParams(type as 'vxlan') };
  });
const SIZE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
/** A size in bytes: an integer, or a number with K/M/G/T (binary: 512M = 512 MiB). */
export const ByteSize = z
  .union([z.number().int(), z.string().regex(/^\d+(\.\d+)?\s*([kmgtKMGT]i?[bB]?)?$/, 'bytes, or a size such as 512M or 2G')])
  .transform((v) => {
    if (typeof v === 'number') return v;
    const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)/i.exec(v)!;
    return Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  });
/** Per-container limits and their bounds (the node's kernel enforces them; see docs/runtime.md). */
export const LIMIT_BOUNDS = {
  memory: { min: 16 * 2 ** 20, max: 2 ** 50, default: 512 * 2 ** 20 },
  cpus: { min: 0.01, max: 1024 },
  pids: { min: 16, max: 4_194_304, default: 1024 },
};
/** One published port (`--publish 8080:80/tcp`). */
export const PublishEntry = z
  .object({
    hostPort: z.number().int().min(1).max(65535),
    port: z.number().int().min(1).max(65535),
    proto: z.enum(['tcp', 'udp']).default('tcp'),
    hostIp: Ipv4.nullable().optional().describe("an address of the node to publish on (absent or null: the node's underlay address)"),
  })
  .strict();
export type PublishEntry = z.infer<typeof PublishEntry>;
/** A container's published ports: at most 16, each protocol/host port once. */
export const PublishList = z
  .array(PublishEntry)
  .max(16)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((p, i) => {
      const k = `${p.proto}/${p.hostPort}`;
      if (seen.has(k)) ctx.addIssue({ code: 'custom', path: [i, 'hostPort'], message: `${k} published twice` });
      seen.add(k);
    });
  });
/** A unicast MAC (the group bit of the first octet clear) other than all zeros: locally administered or not. */
export const UnicastMac = Mac.refine(
  (m) => (parseInt(m.slice(0, 2), 16) & 1) === 0 && m !== '00:00:00:00:00:00',
  'a unicast MAC (even first octet, not all zeros) such as 02:00:00:00:00:01',
);
/**
 * One network of a container with an optional chosen address and MAC (docker `--ip`/`--mac-address`,
 * Neutron `--fixed-ip`): the address must be a free host address of the network (of its pools when it
 * has pools), not its gateway or infra address; the MAC unique in the network.
 */
export const NetworkAttachment = z
  .object({
    network: Name,
    ip: Ipv4.optional().describe('a chosen address (default: the lowest free one)'),
    mac: UnicastMac.optional().describe('a chosen MAC (default: derived from the VNI and the address)'),
  })
  .strict();
export type NetworkAttachment = z.infer<typeof NetworkAttachment>;
/** `POST …/containers/:name/networks`: plug a network into a container (docker network connect). */
export const ContainerAttach = NetworkAttachment;
export type ContainerAttach = NetworkAttachment;
export const ContainerCreate = z
  .object({
    name: Name,
    image: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:+~^-]*$/, 'an image name such as busybox, or NAME:VERSION'),
    networks: z
      .array(z.union([Name, NetworkAttachment]))
      .min(1)
      .max(8)
      .describe('network names, or {network, ip, mac} to choose the address or MAC; eth0, eth1… in this order')
      .transform((l) => l.map((n): NetworkAttachment => (typeof n === 'string' ? { network: n } : n))),
    command: z.array(z.string().max(4096)).max(256).default([]),
    node: Name.optional().describe('pin to this node: admin tokens only (a tenant token gets 403 admin_only_field)'),
    restart: RestartPolicy.default('never'),
    boot: z.boolean().default(false),
    /** memory limit (default 512M): exceeding it gets the container OOM-killed and reported `oom` */
    memory: ByteSize.pipe(z.number().int().min(LIMIT_BOUNDS.memory.min).max(LIMIT_BOUNDS.memory.max)).default(LIMIT_BOUNDS.memory.default),
    /** CPU quota in cores (0.5 = half a core); absent: no quota, a fair share */
    cpus: z.number().min(LIMIT_BOUNDS.cpus.min).max(LIMIT_BOUNDS.cpus.max).optional(),
    /** published ports (`--publish 8080:80/tcp`): DNAT from the hosting node; the first network must be on a router */
    publish: PublishList.default([]),
    /** tasks (processes and threads) at most (default 1024) */
    pids: z.number().int().min(LIMIT_BOUNDS.pids.min).max(LIMIT_BOUNDS.pids.max).default(LIMIT_BOUNDS.pids.default),
    securityGroups: ContainerGroups.optional().describe("security groups of the container's tenant (absent or []: the tenant's default)"),
    description: Description.optional(),
    labels: Labels.optional(),
  })
  .strict();
/** `TENANT/NAME` of a network of another tenant (an external network). */
export const NetworkRef = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\/[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'TENANT/NETWORK, e.g. provider/ext');
/** `POST /v1/tenants/:tenant/routers`. */
export const RouterCreate = z
  .object({
    name: Name,
    external: z.boolean().default(false).describe('egress: traffic leaving the tenant is source-NATed to the node underlay address'),
    externalNetwork: NetworkRef.optional().describe(
      'an external physical network (TENANT/NAME): egress is source-NATed to an address of its pools ' +
        'on each node instead (implies external)',
    ),
  })
  .strict();
export type RouterCreate = z.infer<typeof RouterCreate>;
/** `PATCH /v1/tenants/:tenant/routers/:router` (JSON merge patch of the settable fields). */
export const RouterUpdate = z
  .object({
    external: z.boolean().optional(),
    externalNetwork: NetworkRef.nullable().optional().describe('null: egress through the node underlay address again'),
  })
  .strict();
export type RouterUpdate = z.infer<typeof RouterUpdate>;
/** `POST …/routers/:router/attach` and `…/detach`: one of the tenant's networks. */
export const RouterAttach = z.object({ network: Name }).strict();
export type RouterAttach = z.infer<typeof RouterAttach>;
/** `POST /v1/tenants/:tenant/floating-ips`: an address of an external network, allocated to the tenant. */
export const FloatingIpCreate = z
  .object({
    network: NetworkRef.describe('the external physical network, TENANT/NAME (e.g. provider/ext)'),
    ip: Ipv4.optional().describe('this address (a free one of its pools); default: the lowest free one'),
  })
  .strict();
export type FloatingIpCreate = z.infer<typeof FloatingIpCreate>;
/** `POST …/floating-ips/:fip/associate`: one of the tenant's containers. */
export const FloatingIpAssociate = z.object({ container: Name }).strict();
export type FloatingIpAssociate = z.infer<typeof FloatingIpAssociate>;
export const TokenCreate = z
  .object({
    kind: z.enum(['admin', 'tenant', 'node']),
    tenant: Name.optional(),
    node: Name.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.kind === 'tenant' && !v.tenant) ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'required for a tenant token' });
    if (v.kind === 'node' && !v.node) ctx.addIssue({ code: 'custom', path: ['node'], message: 'required for a node token' });
  });
export const ContainerAction = z.object({ action: z.enum(['start', 'stop']) }).strict();
/** `POST …/containers/:name/upgrade`: another version of its RPM image (the newest when omitted). */
export const ContainerUpgrade = z
  .object({
    version: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+~^]{0,63}$/, 'an rpm version such as 1.2 (no dashes)')
      .optional(),
  })
  .strict()
  .default({});
export type ContainerUpgrade = z.infer<typeof ContainerUpgrade>;
/** List query parameters; strict: an unknown one answers 400 unknown_parameter. */
export const Pagination = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    after: z.string().max(200).optional(),
  })
  .strict();

/** List filters (`-l`, `--filter`): a label selector and field = value; strict like Pagination (unknown → 400). */
export const TenantListQuery = Pagination.extend({ label: LabelSelector.optional() }).strict();
export const NetworkListQuery = Pagination.extend({
  label: LabelSelector.optional(),
  type: NetworkType.optional().describe('only networks of this type'),
  domain: Domain.optional().describe('only networks with this DNS domain'),
}).strict();
export const ContainerListQuery = Pagination.extend({
  label: LabelSelector.optional(),
  image: z.string().max(200).optional().describe('only containers of this image (NAME or NAME:VERSION as stored)'),
  node: Name.optional().describe('only containers placed on this node'),
  network: Name.optional().describe('only containers with an interface on this network'),
  state: z.enum(['running', 'stopped']).optional().describe('only containers with this desired state'),
  observed: z.enum(['pending', 'running', 'stopped', 'exited', 'failed']).optional().describe('only containers in this observed state'),
}).strict();
export type TenantListQuery = z.output<typeof TenantListQuery>;
export type NetworkListQuery = z.output<typeof NetworkListQuery>;
export type ContainerListQuery = z.output<typeof ContainerListQuery>;

export type TenantCreate = z.infer<typeof TenantCreate>;
export type NetworkCreate = z.output<typeof NetworkCreate>;
export type NetworkCreateInput = z.input<typeof NetworkCreate>;
export type ContainerCreate = z.infer<typeof ContainerCreate>;
export type TokenCreate = z.infer<typeof TokenCreate>;

/** The error body every non-2xx answer carries. */
export const ApiError = z.object({ code: z.string(), message: z.string(), path: z.string().optional() });
export type ApiError = z.infer<typeof ApiError>;

/** REST body of `POST /v1/tenants/:tenant/image-repositories`. */
export const ImageRepoCreate = z
  .object({
    name: z.string().regex(NAME_RE),
    url: z
      .string()
      .max(2048)
      .url()
      .regex(/^https?:\/\//, 'an http(s) URL of a yum repository'),
    publicKey: z.string().max(65_536).includes('-----BEGIN PGP PUBLIC KEY BLOCK-----', { message: 'an ASCII-armoured OpenPGP public key' }),
    /** Admin only: let this repository be fetched over plain http (no TLS: anyone on the path can replay or alter metadata). */
    allowHttp: z.boolean().optional(),
  })
  .strict();
export type ImageRepoCreate = z.infer<typeof ImageRepoCreate>;
