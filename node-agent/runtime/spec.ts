import { z } from 'zod';
import { ContainerLimits, DEFAULT_LIMITS, ViewContainer, type ViewEndpoint, type ViewNetwork } from '../../protocol/view.js';
import { infraBinds, infraCommand } from './images.js';
import { bridgeName, hostVethName } from '../names.js';
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
): ContainerSpec {
  const interfaces: InterfaceSpec[] = [];
  for (const ep of [...endpoints].sort((a, b) => a.ifindex - b.ifindex)) {
    const net = networks[ep.network];
    if (!net) continue; // the network arrives in the same or a later delta; the spec changes then
    interfaces.push({
      ifindex: ep.ifindex,
      network: net.id,
      hostName: hostVethName(c.id, ep.ifindex),
      bridge: bridgeName(net.vni),
      mac: ep.mac,
      mtu: net.mtu,
      ip: ep.ip,
      prefix: Number(net.cidr.split('/')[1]),
      gateway: net.gateway,
    });
  }
  // the view's kind only: an image name is tenant data (a tenant naming its image freight-infra gets nothing)
  const infra = c.kind === 'infra';
  const command = infra && c.command.length === 0 ? infraCommand(ctx.projectDir) : c.command;
  const binds = infra ? infraBinds(ctx.projectDir, containerPaths(ctx.state, c.id).config, containerPaths(ctx.state, c.id).run) : [];
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

/** What must match for a running container to be kept: anything else restarts it. */
export function runKey(s: ContainerSpec): string {
  return JSON.stringify([s.image, s.command, s.boot, s.generation, s.interfaces, s.binds, s.limits]);
}
