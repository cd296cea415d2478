import type { NodeView, ViewContainer, ViewEndpoint, ViewNetwork } from '../../protocol/view.js';
import { restartDelay, type BackoffConfig } from './backoff.js';
import { runKey, specFromView, type ContainerSpec, type InterfaceSpec, type SpecContext } from './spec.js';
import { interfaceChange } from './hotplug.js';
import type { Phase } from './state.js';

/** What the node view asks for: its containers, their local endpoints grouped by owner, the networks. */
export interface DesiredContainers {
  containers: ViewContainer[];
  endpointsByOwner: Record<string, ViewEndpoint[]>;
  networks: Record<string, ViewNetwork>;
  /** network → its infra instance's address (the DNS server of --no-dhcp interfaces) */
  infraIps?: Record<string, string>;
}

/** The slice of a container's recorded state the planner looks at. */
export interface ObservedContainer {
  spec: ContainerSpec;
  phase: Phase;
  exitCode: number | null;
  /** when it last stopped running (or last failed to start) */
  exitedAt: number | null;
  /** restarts since the last stable run: the backoff exponent */
  backoff: number;
}

export type ContainerOp =
  | { op: 'create'; spec: ContainerSpec }
  /** spec fields that do not need a restart (desired state, restart policy, name) */
  | { op: 'update'; spec: ContainerSpec }
  | { op: 'start'; id: string; cause: 'request' | 'policy' | 'retry' }
  | { op: 'stop'; id: string }
  /** a running container gains or loses interfaces (container attach|detach): hot-plugged, no restart */
  | { op: 'plug'; spec: ContainerSpec; add: InterfaceSpec[]; remove: InterfaceSpec[] }
  /** the run-relevant spec changed (image, command, generation, interfaces changed in place, binds) */
  | { op: 'restart'; spec: ContainerSpec }
  | { op: 'delete'; id: string };

export interface Plan {
  ops: ContainerOp[];
  /** earliest time a backoff ends: plan again then */
  wakeAt: number | null;
}

/** Groups a node view into the planner's input: only endpoints hosted on this node. */
export function desiredFromView(view: NodeView): DesiredContainers {
  const endpointsByOwner: Record<string, ViewEndpoint[]> = {};
  const infraIps: Record<string, string> = {};
  for (const ep of Object.values(view.endpoints)) {
    if (ep.kind === 'infra') infraIps[ep.network] = ep.ip;
    if (ep.node !== view.node) continue;
    (endpointsByOwner[ep.owner] ??= []).push(ep);
  }
  return { containers: Object.values(view.containers), endpointsByOwner, networks: view.networks, infraIps };
}

/** desired × observed → ops. Pure: the clock comes in as `now`; re-planning a converged state yields no ops. */
export function planContainers(
  desired: DesiredContainers,
  actual: Record<string, ObservedContainer>,
  now: number,
  ctx: SpecContext & { backoff: BackoffConfig },
): Plan {
  const ops: ContainerOp[] = [];
  let wakeAt: number | null = null;
  const wanted = new Set<string>();
  for (const c of desired.containers) {
    wanted.add(c.id);
    const spec = specFromView(c, desired.endpointsByOwner[c.id] ?? [], desired.networks, ctx, desired.infraIps);
    const cur = actual[c.id];
    if (!cur) {
      ops.push({ op: 'create', spec });
      if (spec.desired === 'running') ops.push({ op: 'start', id: spec.id, cause: 'request' });
      continue;
    }
    if (runKey(cur.spec) !== runKey(spec)) {
      const plug = plugOnly(cur.spec, spec);
      if (!plug) {
        ops.push({ op: 'restart', spec });
        continue;
      }
      // a running container gets the interfaces plugged; another one starts with them next time
      if (cur.phase === 'running') {
        ops.push({ op: 'plug', spec, ...plug });
        continue;
      }
    }
    if (JSON.stringify(cur.spec) !== JSON.stringify(spec)) ops.push({ op: 'update', spec });
    const step = stepFor(spec, cur, now, ctx.backoff);
    if (step.op) ops.push(step.op);
    if (step.wakeAt !== null && (wakeAt === null || step.wakeAt < wakeAt)) wakeAt = step.wakeAt;
  }
  for (const id of Object.keys(actual).sort()) if (!wanted.has(id)) ops.push({ op: 'delete', id });
  return { ops, wakeAt };
}

/** Interfaces added or removed and nothing else run-relevant changed: the plugs, else null (a restart). */
function plugOnly(from: ContainerSpec, to: ContainerSpec): { add: InterfaceSpec[]; remove: InterfaceSpec[] } | null {
  if (runKey({ ...from, interfaces: [] }) !== runKey({ ...to, interfaces: [] })) return null;
  return interfaceChange(from.interfaces, to.interfaces);
}

/** The one start/stop step an existing container needs, or when to look again. */
function stepFor(
  spec: ContainerSpec,
  cur: ObservedContainer,
  now: number,
  cfg: BackoffConfig,
): { op?: ContainerOp; wakeAt: number | null } {
  const id = spec.id;
  if (spec.desired === 'stopped') {
    return cur.phase === 'running' || cur.phase === 'pending' ? { op: { op: 'stop', id }, wakeAt: null } : { wakeAt: null };
  }
  switch (cur.phase) {
    case 'running':
      return { wakeAt: null };
    case 'created':
    case 'stopped':
      return { op: { op: 'start', id, cause: 'request' }, wakeAt: null };
    case 'pending':
      return due(id, cur, now, cfg, 'retry');
    case 'exited':
    case 'failed': {
      const failed = cur.phase === 'failed' || cur.exitCode !== 0;
      const restart = spec.restart === 'always' || (spec.restart === 'on-failure' && failed);
      return restart ? due(id, cur, now, cfg, 'policy') : { wakeAt: null };
    }
  }
}

function due(id: string, cur: ObservedContainer, now: number, cfg: BackoffConfig, cause: 'policy' | 'retry') {
  const at = (cur.exitedAt ?? now) + restartDelay(cur.backoff, cfg);
  return at <= now ? { op: { op: 'start', id, cause } as ContainerOp, wakeAt: null } : { wakeAt: at };
}
