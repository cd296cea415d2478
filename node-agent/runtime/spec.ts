import { z } from 'zod';
import { ContainerLimits, DEFAULT_LIMITS, ViewContainer, type ViewEndpoint, type ViewNetwork } from '../../protocol/view.js';
import { infraBinds, infraCommand } from './images.js';
import { hostVethName, networkBridge } from '../names.js';
import { containerPaths } from './paths.js';

/** One interface of a container: eth<ifindex> inside, frh-<8><ifindex> in the network's bridge. */
export const InterfaceSpec = z.object({
  ifindex: z.number().int().min(0),
  network: z.string(),
  hostName: z.string().max(15),
  bridge: z.string().max(15),
  mac: z.string(),
  mtu: z.number().int(),
  ip: z.string(),
  prefix: z.number().int(),
  gateway: z.string().nullable(),
  /** --no-dhcp networks: the agent sets the address, default route and resolver (older state files: false) */
  static: z.boolean().default(false),
  /** the network's infra address (its DNS server) and zone, for the resolver of a static interface */
  dns: z.string().nullable().default(null),
  search: z.string().nullable().default(null),
  /** plugged after the container's creation (container attach): the node runs one DHCP exchange for it at the plug and each start */
  nodeDhcp: z.boolean().default(false),
});
export type InterfaceSpec = z.infer<typeof InterfaceSpec>;

export const BindSpec = z.object({ host: z.string(), container: z.string(), readOnly: z.boolean() });

/**
 * Everything the runtime needs to run one container: the view's container (its
 * `imageSource` stays optional: older state files lack it) with its interfaces and
 * binds resolved on this node. Stored in state.json.
 */
export const ContainerSpec = ViewContainer.extend({
  interfaces: z.array(InterfaceSpec),
  binds: z.array(BindSpec),
  /** always set: the view's, or the node's defaults (older state files lack it) */
  limits: ContainerLimits.default(DEFAULT_LIMITS),
});
export type ContainerSpec = z.infer<typeof ContainerSpec>;

export interface SpecContext {
  state: string;
  /** Project directory bound read-only into infra containers (it holds dist/infra-container/main.js). */
  projectDir: string;
}

/** Builds the spec of a view container from its local endpoints and their networks. Pure. */
export function specFromView(
  c: ViewContainer,
  endpoints: ViewEndpoint[],
  networks: Record<string, ViewNetwork>,
  ctx: SpecContext,
  infraIps: Record<string, string> = {},
): ContainerSpec {
  const interfaces: InterfaceSpec[] = [];
  for (const ep of [...endpoints].sort((a, b) => a.ifindex - b.ifindex)) {
    const net = networks[ep.network];
    if (!net) continue; // the network arrives in the same or a later delta; the spec changes then
    interfaces.push({
      ifindex: ep.ifindex,
      network: net.id,
      hostName: hostVethName(c.id, ep.ifindex),
      bridge: networkBridge(net),
      mac: ep.mac,
      mtu: net.mtu,
      ip: ep.ip,
      prefix: Number(net.cidr.split('/')[1]),
      gateway: net.gateway,
      // the infra instance has its static address anyway; a container only on --no-dhcp networks
      static: c.kind !== 'infra' && net.dhcp === false,
      dns: c.kind !== 'infra' && net.dhcp === false ? (infraIps[net.id] ?? null) : null,
      search: c.kind !== 'infra' && net.dhcp === false ? `${net.name}.${net.tenant}.${net.domain}` : null,
      nodeDhcp: c.kind !== 'infra' && net.dhcp !== false && ep.plugged === true,
    });
  }
  // the view's kind only: an image name is tenant data (a tenant naming its image freight-infra gets nothing)
  const infra = c.kind === 'infra';
  const command = infra && c.command.length === 0 ? infraCommand(ctx.projectDir) : c.command;
  const paths = containerPaths(ctx.state, c.id);
  const binds = infra ? infraBinds(ctx.projectDir, paths.config, paths.run) : [];
  // the resolver of --no-dhcp interfaces: a file the agent writes, bound read-only (nspawn resolves the target inside the root)
  if (interfaces.some((i) => i.static && i.dns)) binds.push({ host: paths.resolv, container: '/etc/resolv.conf', readOnly: true });
  return {
    id: c.id,
    name: c.name,
    tenant: c.tenant,
    kind: c.kind,
    image: c.image,
    command,
    boot: c.boot,
    restart: c.restart,
    desired: c.desired,
    generation: c.generation,
    interfaces,
    binds,
    limits: c.limits ?? DEFAULT_LIMITS,
    // repositories change what can be pulled, not what runs: outside runKey, no restart
    ...(c.imageSource ? { imageSource: c.imageSource } : {}),
  };
}

/**
 * What must match for a running container to be kept: anything else restarts it. Limits are not
 * in it: the runtime writes new ones into the running container's cgroup (an `update`).
 */
export function runKey(s: ContainerSpec): string {
  return JSON.stringify([s.image, s.command, s.boot, s.generation, s.interfaces, s.binds]);
}

/** /etc/resolv.conf of a container with --no-dhcp interfaces: their infra DNS servers and zones. */
export function resolvConf(s: ContainerSpec): string | null {
  const st = s.interfaces.filter((i) => i.static && i.dns);
  if (!st.length) return null;
  const servers = [...new Set(st.map((i) => i.dns!))].map((ip) => `nameserver ${ip}`);
  const search = [...new Set(st.map((i) => i.search).filter((x): x is string => !!x))];
  return [...servers, ...(search.length ? [`search ${search.join(' ')}`] : [])].join('\n') + '\n';
}
