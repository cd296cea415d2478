import { z } from 'zod';
import { ByteSize, LIMIT_BOUNDS, PublishList } from './api.js';
import { DEFAULT_DOMAIN, Domain, RestartPolicy } from './common.js';
import { Description, DhcpOptions, DhcpOptionsPatch, DnsUpstreams, Labels, LabelsPatch, Mtu } from './meta.js';
import { NetworkParams } from './network-params.js';
import { ContainerGroups } from './security-groups.js';

/**
 * What can change on an object after it is created (PATCH, a JSON merge patch: RFC 7386) and
 * the metadata every object carries: description and labels. Each object has two schemas: the
 * patch (the request body: `null` removes a field, resetting it to its default) and the settings
 * (the merged document, validated whole before anything is written).
 */

const immutable = (what: string) =>
  z.unknown().describe(`fixed at create: the current value is accepted, another one answers 409 immutable_field (${what})`);

/** Network fields that cannot change in place (the kernel objects or every address depend on them). */
export const NETWORK_IMMUTABLE = ['name', 'type', 'cidr', 'gateway', 'vni', 'pools', 'dhcp'] as const;
/** Per-type parameters that change in place (the key manager reads them); any other one is fixed. */
export const NETWORK_PARAMS_MUTABLE = ['rotateHours'] as const;
export const NetworkSettings = z
  .object({
    mtu: Mtu.optional(),
    domain: Domain.default(DEFAULT_DOMAIN),
    description: Description.optional(),
    labels: Labels.default({}),
    dhcpOptions: DhcpOptions.default({}),
    dnsUpstreams: DnsUpstreams.optional(),
    params: NetworkParams,
  })
  .strict();
export type NetworkSettings = z.infer<typeof NetworkSettings>;
export const NetworkPatch = z
  .object({
    mtu: Mtu.nullable().describe('null: each node uses its underlay MTU minus the encapsulation overhead'),
    domain: Domain.nullable().describe(`null: ${DEFAULT_DOMAIN}`),
    description: Description.nullable(),
    labels: LabelsPatch.nullable(),
    dhcpOptions: DhcpOptionsPatch.nullable(),
    dnsUpstreams: DnsUpstreams.nullable().describe("null: the agent's --dns-upstream; []: forward nothing (REFUSED)"),
    name: immutable('delete and create to rename'),
    type: immutable('a new network type means new kernel objects'),
    cidr: immutable('every address depends on it'),
    gateway: immutable('containers hold it as their route'),
    vni: immutable('the tunnel devices are keyed by it'),
    pools: immutable('allocated addresses depend on them'),
    dhcp: immutable('containers are configured by DHCP or by their node'),
    params: z
      .record(z.string(), z.unknown())
      .describe(
        'merged into the type parameters: ipsec rotateHours changes in place (null: the controller default); ' +
          'type, port, physicalNetwork and vlan are fixed (409 immutable_field, path params.<field>)',
      ),
  })
  .partial()
  .strict();
export type NetworkPatch = z.infer<typeof NetworkPatch>;

/** Container fields that cannot change in place. */
export const CONTAINER_IMMUTABLE = ['name', 'image', 'command', 'boot', 'networks', 'node'] as const;
const Memory = ByteSize.pipe(z.number().int().min(LIMIT_BOUNDS.memory.min).max(LIMIT_BOUNDS.memory.max));
const Cpus = z.number().min(LIMIT_BOUNDS.cpus.min).max(LIMIT_BOUNDS.cpus.max);
const Pids = z.number().int().min(LIMIT_BOUNDS.pids.min).max(LIMIT_BOUNDS.pids.max);
export const ContainerSettings = z
  .object({
    restart: RestartPolicy.default('never'),
    memory: z.number().int().min(LIMIT_BOUNDS.memory.min).max(LIMIT_BOUNDS.memory.max).default(LIMIT_BOUNDS.memory.default),
    cpus: Cpus.optional(),
    pids: Pids.default(LIMIT_BOUNDS.pids.default),
    securityGroups: ContainerGroups.default([]),
    description: Description.optional(),
    labels: Labels.default({}),
    publish: PublishList.default([]),
  })
  .strict();
export type ContainerSettings = z.infer<typeof ContainerSettings>;
export const ContainerPatch = z
  .object({
    restart: RestartPolicy.nullable().describe('null: never'),
    memory: Memory.nullable().describe('bytes or a size such as 512M; null: the default (512M); applied to the running container'),
    cpus: Cpus.nullable().describe('cores; null: no quota; applied to the running container'),
    pids: Pids.nullable().describe('null: the default (1024); applied to the running container'),
    securityGroups: ContainerGroups.nullable().describe(
      "the container's security groups, replaced whole (null or []: the tenant's default)",
    ),
    description: Description.nullable(),
    labels: LabelsPatch.nullable(),
    publish: PublishList.nullable().describe(
      'published ports, the whole list (a merge patch replaces arrays); null or []: none. Needs a network on a router; ' +
        'a node address and port another container holds answers 409 port_in_use',
    ),
    name: immutable('delete and run to rename'),
    image: immutable('POST …/upgrade for another version'),
    command: immutable('it is what runs'),
    boot: immutable('it is what runs'),
    networks: immutable('container attach/detach'),
    node: immutable('delete and run elsewhere'),
  })
  .partial()
  .strict();
export type ContainerPatch = z.infer<typeof ContainerPatch>;

export const TENANT_IMMUTABLE = ['name'] as const;
export const TenantSettings = z.object({ description: Description.optional(), labels: Labels.default({}) }).strict();
export type TenantSettings = z.infer<typeof TenantSettings>;
export const TenantPatch = z
  .object({ description: Description.nullable(), labels: LabelsPatch.nullable(), name: immutable('names never change') })
  .partial()
  .strict();
export type TenantPatch = z.infer<typeof TenantPatch>;
