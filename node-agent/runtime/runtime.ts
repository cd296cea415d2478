import { pino, type Logger } from 'pino';
import type { ContainerStatus, InfraCounters } from '../../protocol/stream.js';
import type { NodeView } from '../../protocol/view.js';
import { NetlinkGateway } from '../kernel/netlink.js';
import { DEFAULT_BACKOFF, type BackoffConfig } from './backoff.js';
import { RuntimeError, errorMessage } from './errors.js';
import {
  createContainer,
  deleteContainer,
  observeExit,
  releaseResources,
  startContainer,
  stopContainer,
  type ExecContext,
} from './executor.js';
import { ensureInfraImage } from './images.js';
import { DEFAULT_LOG_CAP, rotateLog, tailLog } from './logs.js';
import { containerPaths, containersDir } from './paths.js';
import { readInfraCounters } from './infra-counters.js';
import { cgroupLayout, setLimits } from './cgroups.js';
import { desiredFromView, planContainers, type ContainerOp, type DesiredContainers } from './planner.js';
import { listStates, privateDir, toStatus, writeState, type ContainerState } from './state.js';
import { adoptable, strayNspawn, terminate } from './supervise.js';
import { execTarget, type ExecTarget } from './exec.js';
import { containerPid } from './network.js';
import { dhcpInBackground, plugInterface, unplugInterface } from './hotplug.js';
import { Serial } from '../../lib/serial.js';
import type { ReadPackagesResult } from '../../images/packages.js';
import { containerPackages } from './packages.js';
import { listInstalled, planImageGc, removeInstalled, usedKey } from './image-gc.js';
import { revokedKeyOf } from './image-keys.js';
import { parseImageRef } from '../../images/ref.js';
import { tenantRoot } from '../../images/rpmroot.js';

export interface RuntimeOptions {
  stateDir: string;
  /** bound read-only into infra containers */
  projectDir: string;
  log?: Logger;
  gw?: NetlinkGateway;
  now?: () => number;
  backoff?: BackoffConfig;
  /** SIGTERM → SIGKILL grace */
  graceMs?: number;
  /** how often running containers are checked (exit, log size) */
  pollMs?: number;
  logCap?: number;
  nspawn?: string;
  /** every change of a container's reported status */
  onStatus?: (s: ContainerStatus) => void;
  /** Image versions no container on the node uses are removed after this long (default 1 h). */
  imageGcGraceMs?: number;
  /** How often unused image versions are looked for (default: a minute, or the grace period if shorter). */
  imageGcEveryMs?: number;
}

export const DEFAULT_IMAGE_GC_GRACE_MS = 3_600_000;

/**
 * The node's container runtime: plans from the node view, executes the ops, watches the processes,
 * applies restart policies. Containers outlive it: `open` re-adopts what runs.
 */
export class ContainerRuntime {
  private readonly states = new Map<string, ContainerState>();
  private readonly reported = new Map<string, string>();
  private desired: DesiredContainers | null = null;
  private readonly queue = new Serial();
  private poller: NodeJS.Timeout | null = null;
  private gcTimer: NodeJS.Timeout | null = null;
  private unusedSince = new Map<string, number>();
  private waker: NodeJS.Timeout | null = null;
  private readonly ctx: ExecContext;
  private readonly ownGw: boolean;

  private constructor(private readonly opts: RuntimeOptions) {
    this.ownGw = !opts.gw;
    this.ctx = {
      stateDir: opts.stateDir,
      gw: opts.gw ?? NetlinkGateway.open(),
      log: opts.log ?? pino({ name: 'runtime' }),
      now: opts.now ?? Date.now,
      graceMs: opts.graceMs ?? 10_000,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      nspawn: opts.nspawn,
    };
  }

  /** Loads the recorded containers, adopts the running ones, and starts watching. */
  static async open(opts: RuntimeOptions): Promise<ContainerRuntime> {
    const rt = new ContainerRuntime(opts);
    // the state dir holds commands, environments, the last view (keys): root's only
    await privateDir(opts.stateDir);
    await privateDir(containersDir(opts.stateDir));
    try {
      cgroupLayout();
    } catch (e) {
      // the dataplane keeps working; every container start fails with this reason (never unlimited)
      rt.ctx.log.error({ err: e }, 'no usable cgroups: containers cannot start');
    }
    await ensureInfraImage(opts.stateDir);
    const { states, broken } = await listStates(opts.stateDir);
    for (const id of broken) rt.ctx.log.warn({ container: id }, 'unreadable state.json: container ignored');
    for (const st of states) rt.states.set(st.spec.id, await rt.adopt(st));
    for (const st of rt.states.values()) rt.report(st);
    rt.poller = setInterval(() => void rt.serial(() => rt.poll()), opts.pollMs ?? 250);
    rt.poller.unref();
    const grace = opts.imageGcGraceMs ?? DEFAULT_IMAGE_GC_GRACE_MS;
    rt.gcTimer = setInterval(() => void rt.serial(() => rt.collectImages()), opts.imageGcEveryMs ?? Math.min(60_000, Math.max(grace, 250)));
    rt.gcTimer.unref();
    return rt;
  }

  private async adopt(st: ContainerState): Promise<ContainerState> {
    if (st.phase === 'running' && adoptable(st.spec.id, st.wrapperPid, st.wrapperStart, st.nspawnPid)) {
      this.ctx.log.info({ container: st.spec.id, pid: st.nspawnPid }, 'container adopted');
      return st;
    }
    if (st.phase === 'running') return observeExit(this.ctx, st);
    // leftovers of a start interrupted by a crash: a process the state does not know of, mounts, links
    const stray = strayNspawn(containerPaths(this.opts.stateDir, st.spec.id), st.spec.id);
    if (stray) {
      this.ctx.log.warn({ container: st.spec.id, pid: stray.nspawnPid }, 'unrecorded nspawn: terminating');
      await terminate(null, null, stray.nspawnPid, this.ctx.graceMs);
    }
    await releaseResources(this.ctx, st.spec).catch((e) => this.ctx.log.warn({ container: st.spec.id, err: e }, 'cleanup'));
    return st;
  }

  /** New desired state (a whole node view or the planner's input): plans and applies. */
  apply(desired: NodeView | DesiredContainers): Promise<void> {
    this.desired = 'node' in desired ? desiredFromView(desired) : desired;
    return this.serial(() => this.reconcile());
  }

  statuses(): ContainerStatus[] {
    return [...this.states.values()].map(toStatus);
  }

  state(id: string): ContainerState | undefined {
    return this.states.get(id);
  }

  /** The last `tail` lines of the container's output (nspawn's stdout and stderr). */
  logs(id: string, tail = 100): string {
    if (!this.states.has(id)) throw new RuntimeError('container_not_found', 'logs', id, 'no such container on this node');
    return tailLog(containerPaths(this.opts.stateDir, id), tail, this.opts.logCap ?? DEFAULT_LOG_CAP);
  }

  /** The packages of the container's root as its rpm database records them (read on the node, nothing of the image runs). */
  async packages(id: string): Promise<ReadPackagesResult> {
    const st = this.states.get(id);
    if (!st) throw new RuntimeError('container_not_found', 'packages', id, 'no such container on this node');
    return containerPackages(this.opts.stateDir, st.spec);
  }

  /** The DHCP/DNS counters of an infra instance, scraped from its /metrics socket now (infra-counters.ts). */
  async infraCounters(id: string): Promise<InfraCounters> {
    const st = this.states.get(id);
    if (!st) throw new RuntimeError('container_not_found', 'infra counters', id, 'no such container on this node');
    if (st.spec.kind !== 'infra') throw new RuntimeError('container_not_found', 'infra counters', id, 'not an infra container');
    return readInfraCounters(containerPaths(this.opts.stateDir, id).run);
  }

  /** Where `container exec` enters a running container (its PID 1 and cgroups), or why it cannot. */
  execTarget(id: string): ExecTarget {
    const st = this.states.get(id);
    if (!st) throw new RuntimeError('container_not_found', 'exec in', id, 'no such container on this node');
    const pid = st.phase === 'running' && st.nspawnPid ? containerPid(st.nspawnPid) : null;
    return execTarget(id, st.spec.name, pid);
  }

  /** Stops watching; the containers keep running (a new runtime adopts them). */
  async close(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    if (this.gcTimer) clearInterval(this.gcTimer);
    if (this.waker) clearTimeout(this.waker);
    await this.queue.idle();
    if (this.ownGw) this.ctx.gw.close();
  }

  /** One operation at a time: the planner always sees settled state. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.run(fn);
    next.catch((e) => this.ctx.log.error({ err: e }, 'runtime step failed'));
    return next;
  }

  /** Removes image versions no container here has used for the grace period (in the serial queue: no start races it). */
  private async collectImages(): Promise<void> {
    const used = new Set<string>();
    for (const st of this.states.values()) {
      const k = usedKey(st.spec);
      if (k) used.add(k);
    }
    // nothing installed is judged before the first view: the containers of the node are not known yet
    if (!this.desired) return;
    const plan = planImageGc({
      installed: await listInstalled(this.opts.stateDir),
      used,
      unusedSince: this.unusedSince,
      now: this.ctx.now(),
      graceMs: this.opts.imageGcGraceMs ?? DEFAULT_IMAGE_GC_GRACE_MS,
    });
    this.unusedSince = plan.unusedSince;
    for (const i of plan.remove) {
      try {
        await removeInstalled(this.opts.stateDir, i);
        this.unusedSince.delete(i.key);
        this.ctx.log.info({ tenant: i.tenant, image: `${i.name}:${i.version}` }, 'unused image version removed');
      } catch (e) {
        this.ctx.log.warn({ tenant: i.tenant, image: `${i.name}:${i.version}`, err: e }, 'remove unused image version failed');
      }
    }
  }

  /**
   * A running container whose image is no longer signed by any of its tenant's keys keeps
   * running (never killed for it) and says so in its status; new starts are refused.
   */
  private async keyStatus(st: ContainerState): Promise<ContainerState> {
    if (st.phase !== 'running' || !st.spec.imageSource || !st.spec.image.includes(':')) return st;
    const ref = parseImageRef(st.spec.image);
    const revoked = await revokedKeyOf(
      tenantRoot(this.opts.stateDir, st.spec.tenant),
      ref.name,
      ref.version!,
      st.spec.imageSource.repos,
    ).catch(() => null);
    const reason = revoked ? `running, but new starts are refused: ${revoked.message}` : null;
    return reason === st.reason ? st : { ...st, reason };
  }

  private async poll(): Promise<void> {
    let changed = false;
    for (const st of [...this.states.values()]) {
      if (st.phase !== 'running') continue;
      rotateLog(containerPaths(this.opts.stateDir, st.spec.id), this.opts.logCap ?? DEFAULT_LOG_CAP);
      const next = await observeExit(this.ctx, st);
      if (next !== st) {
        this.set(next);
        changed = true;
      }
    }
    if (changed) await this.reconcile();
  }

  private async reconcile(): Promise<void> {
    if (!this.desired) return; // no view yet (agent just started): adopt and watch, change nothing
    const planNow = () =>
      planContainers(this.desired!, Object.fromEntries(this.states), this.ctx.now(), {
        state: this.opts.stateDir,
        projectDir: this.opts.projectDir,
        backoff: this.ctx.backoff,
      });
    let plan = planNow();
    // execute, then plan again: a start that failed now has a backoff to wait for (bounded: a
    // failure is never due at once, so the second plan normally has no ops)
    for (let round = 0; plan.ops.length && round < 3; round++) {
      for (const op of plan.ops) await this.execute(op);
      plan = planNow();
    }
    if (this.waker) clearTimeout(this.waker);
    this.waker = null;
    if (plan.wakeAt !== null) {
      this.waker = setTimeout(() => void this.serial(() => this.reconcile()), Math.max(0, plan.wakeAt - this.ctx.now()));
      this.waker.unref();
    }
  }

  private async execute(op: ContainerOp): Promise<void> {
    const id = 'spec' in op ? op.spec.id : op.id;
    try {
      await this.executeOp(op);
    } catch (e) {
      // the runtime carries on with the other containers; this one is reported failed
      this.ctx.log.error({ container: id, op: op.op, err: e }, 'container operation failed');
      const st = this.states.get(id);
      if (st && op.op !== 'delete') this.set({ ...st, phase: 'failed', reason: `${op.op}: ${errorMessage(e)}`, exitedAt: this.ctx.now() });
    }
  }

  private async executeOp(op: ContainerOp): Promise<void> {
    const ctx = this.ctx;
    switch (op.op) {
      case 'create':
        return this.set(await createContainer(ctx, op.spec));
      case 'update': {
        const st = this.get(op.spec.id);
        // new limits apply to the running container in place; a stopped one gets them at its next start
        if (st.phase === 'running' && JSON.stringify(st.spec.limits) !== JSON.stringify(op.spec.limits)) {
          try {
            setLimits(op.spec.id, op.spec.limits);
            ctx.log.info({ container: op.spec.id, limits: op.spec.limits }, 'container limits changed in place');
          } catch (err) {
            // it keeps running under the old limits; the new ones apply at its next start
            ctx.log.warn({ container: op.spec.id, err }, 'changing limits in place failed');
          }
        }
        const next = await this.keyStatus({ ...st, spec: op.spec });
        await writeState(ctx.stateDir, next);
        return this.set(next);
      }
      case 'start': {
        let st = this.get(op.id);
        if (op.cause !== 'request') st = { ...st, backoff: st.backoff + 1, restarts: st.restarts + (op.cause === 'policy' ? 1 : 0) };
        return this.set(await startContainer(ctx, st));
      }
      case 'stop':
        return this.set(await stopContainer(ctx, this.get(op.id)));
      case 'plug':
        return this.plug(op);
      case 'restart': {
        const stopped = await stopContainer(ctx, this.get(op.spec.id));
        const next: ContainerState = { ...stopped, spec: op.spec, phase: 'created', backoff: 0 };
        this.set(next);
        if (op.spec.desired === 'running') this.set(await startContainer(ctx, next));
        else await writeState(ctx.stateDir, next);
        return;
      }
      case 'delete':
        await deleteContainer(ctx, this.get(op.id));
        this.states.delete(op.id);
        this.reported.delete(op.id);
        return;
    }
  }

  /**
   * Unplugs and plugs interfaces of a running container (container attach|detach). A plug that
   * fails leaves the interface out of the recorded spec (the next plan tries again) and says why
   * in the status; the container keeps running either way.
   */
  private async plug(op: Extract<ContainerOp, { op: 'plug' }>): Promise<void> {
    const ctx = this.ctx;
    const st = this.get(op.spec.id);
    const log = { container: op.spec.id, name: op.spec.name };
    let interfaces = st.spec.interfaces;
    let reason = st.reason;
    for (const i of op.remove) {
      await unplugInterface(ctx.gw, i);
      interfaces = interfaces.filter((x) => x.ifindex !== i.ifindex);
      ctx.log.info({ ...log, ifname: `eth${i.ifindex}`, network: i.network }, 'interface unplugged');
    }
    for (const i of op.add) {
      try {
        await plugInterface(ctx.gw, op.spec, i);
      } catch (err) {
        ctx.log.warn({ ...log, ifname: `eth${i.ifindex}`, network: i.network, err }, 'plugging an interface failed');
        reason = `attach eth${i.ifindex}: ${errorMessage(err)}`;
        continue;
      }
      interfaces = [...interfaces.filter((x) => x.ifindex !== i.ifindex), i].sort((a, b) => a.ifindex - b.ifindex);
      ctx.log.info({ ...log, ifname: `eth${i.ifindex}`, network: i.network }, 'interface plugged');
      if (i.nodeDhcp) dhcpInBackground(this.opts.stateDir, ctx.log, op.spec, i);
    }
    // only the interfaces: any other change of the same view is the next round's update (limits applied in place there)
    const next: ContainerState = { ...st, spec: { ...st.spec, interfaces }, reason };
    await writeState(ctx.stateDir, next);
    this.set(next);
  }

  private get(id: string): ContainerState {
    const st = this.states.get(id);
    if (!st) throw new RuntimeError('container_not_found', 'runtime', id, 'not known');
    return st;
  }

  private set(st: ContainerState): void {
    this.states.set(st.spec.id, st);
    this.report(st);
  }

  private report(st: ContainerState): void {
    const s = toStatus(st);
    const key = JSON.stringify(s);
    if (this.reported.get(s.id) === key) return;
    this.reported.set(s.id, key);
    this.opts.onStatus?.(s);
  }
}
