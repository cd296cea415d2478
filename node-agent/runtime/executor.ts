import { chmod, mkdir, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { NetlinkGateway } from '../kernel/netlink.js';
import type { BackoffConfig } from './backoff.js';
import { RuntimeError, errorMessage } from './errors.js';
import { imageExists } from './images.js';
import { classifyExit, lastRunOutput } from './logs.js';
import { mountOverlay, unmount } from './mounts.js';
import { removeNspawnLeftovers } from './nspawn-lock.js';
import { attachNetwork, setupNetwork, teardownNetwork } from './network.js';
import { dhcpInBackground } from './hotplug.js';
import { oomKills, prepareCgroup, removeCgroup } from './cgroups.js';
import { rpmImageLayers } from './rpm-layers.js';
import { nspawnArgs } from './nspawn.js';
import { containerPaths, imageDir, stagingNetnsPath } from './paths.js';
import { isAlive } from './proc.js';
import { resolvConf, type ContainerSpec } from './spec.js';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { freshState, writeState, type ContainerState } from './state.js';
import { launch, readExit, terminate } from './supervise.js';

/** What the operations need; no module state, the clock injected. */
export interface ExecContext {
  stateDir: string;
  gw: NetlinkGateway;
  log: Logger;
  now: () => number;
  graceMs: number;
  backoff: BackoffConfig;
  /** nspawn binary (tests and the bench may point elsewhere) */
  nspawn?: string;
}

export async function createContainer(ctx: ExecContext, spec: ContainerSpec): Promise<ContainerState> {
  const p = containerPaths(ctx.stateDir, spec.id);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  if (spec.binds.some((b) => b.host === p.config)) await mkdir(p.config, { recursive: true });
  if (spec.binds.some((b) => b.host === p.run)) {
    // the infra's root is an unprivileged uid of its user namespace (picked at start): it may create its
    // socket here only in a directory open to it; the 0700 container directory keeps the node's users out
    await mkdir(p.run, { recursive: true });
    await chmod(p.run, 0o1777);
  }
  const st = freshState(spec);
  await writeState(ctx.stateDir, st);
  return st;
}

/** The resolver file of --no-dhcp interfaces (bound read-only into the container), before nspawn starts. */
async function writeResolv(file: string, spec: ContainerSpec): Promise<void> {
  const text = resolvConf(spec);
  if (text !== null) await writeFileAtomic(file, text, 0o644);
}

/** Network, overlay, nspawn. Any failure undoes what was set up and leaves the container failed (or pending). */
export async function startContainer(ctx: ExecContext, st: ContainerState): Promise<ContainerState> {
  const { spec } = st;
  const p = containerPaths(ctx.stateDir, spec.id);
  try {
    const lower = await imageLayersOf(ctx, spec);
    await setupNetwork(ctx.gw, spec);
    await writeResolv(p.resolv, spec);
    await mountOverlay(spec.name, { lower, upper: p.upper, work: p.work, merged: p.merged });
    const cgroups = await prepareCgroup(spec.id, spec.limits);
    const l = await launch(p, spec.id, nspawnArgs(spec, p.merged), { nspawn: ctx.nspawn, netns: stagingNetnsPath(spec.id), cgroups });
    try {
      await attachNetwork(spec, l.nspawnPid);
    } catch (e) {
      await terminate(l.wrapperPid, l.wrapperStart, l.nspawnPid, ctx.graceMs);
      throw e;
    }
    const next: ContainerState = { ...st, ...l, phase: 'running', startedAt: ctx.now(), exitCode: null, reason: null };
    await writeState(ctx.stateDir, next);
    ctx.log.info({ container: spec.id, name: spec.name, pid: l.nspawnPid }, 'container started');
    // interfaces plugged after the container's creation: its own DHCP client does not know them
    for (const i of spec.interfaces) if (i.nodeDhcp) dhcpInBackground(ctx.stateDir, ctx.log, spec, i);
    return next;
  } catch (e) {
    await releaseResources(ctx, spec).catch((te) => ctx.log.warn({ container: spec.id, err: te }, 'teardown after failed start'));
    const transient = e instanceof RuntimeError && e.transient;
    const next: ContainerState = {
      ...st,
      phase: transient ? 'pending' : 'failed',
      reason: errorMessage(e),
      exitCode: null,
      exitedAt: ctx.now(),
      wrapperPid: null,
      wrapperStart: null,
      nspawnPid: null,
    };
    await writeState(ctx.stateDir, next);
    ctx.log.warn({ container: spec.id, name: spec.name, err: e }, transient ? 'container start deferred' : 'container start failed');
    return next;
  }
}

/** The read-only layers of the container's root: its RPM image's (verified, installed once per tenant) or its directory image. */
async function imageLayersOf(ctx: ExecContext, spec: ContainerSpec): Promise<string | string[]> {
  if (spec.imageSource) {
    return rpmImageLayers({
      stateDir: ctx.stateDir,
      tenant: spec.tenant,
      image: spec.image,
      repos: spec.imageSource.repos,
      what: spec.name,
      log: ctx.log,
    });
  }
  if (!imageExists(ctx.stateDir, spec.image)) {
    throw new RuntimeError('image_not_found', 'start container', spec.name, `image ${spec.image} not found`);
  }
  return imageDir(ctx.stateDir, spec.image);
}

/** Still running? If not: exit code and reason from the wrapper's files, resources released. */
export async function observeExit(ctx: ExecContext, st: ContainerState): Promise<ContainerState> {
  if (st.phase !== 'running' || isAlive(st.wrapperPid, st.wrapperStart)) return st;
  const p = containerPaths(ctx.stateDir, st.spec.id);
  // the kernel's word first: a command killed at its memory limit is `oom`, whatever its exit code says
  const cls =
    oomKills(st.spec.id) > 0 ? { kind: 'failed' as const, code: readExit(p), reason: 'oom' } : classifyExit(readExit(p), lastRunOutput(p));
  const now = ctx.now();
  const stable = st.startedAt !== null && now - st.startedAt >= ctx.backoff.stableMs;
  await releaseResources(ctx, st.spec).catch((e) => ctx.log.warn({ container: st.spec.id, err: e }, 'teardown after exit'));
  const next: ContainerState = {
    ...st,
    phase: cls.kind,
    exitCode: cls.code,
    reason: cls.kind === 'failed' ? cls.reason : null,
    exitedAt: now,
    backoff: stable ? 0 : st.backoff,
    wrapperPid: null,
    wrapperStart: null,
    nspawnPid: null,
  };
  await writeState(ctx.stateDir, next);
  ctx.log.info(
    { container: st.spec.id, name: st.spec.name, phase: next.phase, exitCode: next.exitCode, reason: next.reason },
    'container ended',
  );
  return next;
}

export async function stopContainer(ctx: ExecContext, st: ContainerState): Promise<ContainerState> {
  await terminate(st.wrapperPid, st.wrapperStart, st.nspawnPid, ctx.graceMs);
  await releaseResources(ctx, st.spec);
  const p = containerPaths(ctx.stateDir, st.spec.id);
  const next: ContainerState = {
    ...st,
    phase: 'stopped',
    exitCode: st.phase === 'running' ? readExit(p) : st.exitCode,
    exitedAt: ctx.now(),
    wrapperPid: null,
    wrapperStart: null,
    nspawnPid: null,
    backoff: 0,
  };
  await writeState(ctx.stateDir, next);
  ctx.log.info({ container: st.spec.id, name: st.spec.name }, 'container stopped');
  return next;
}

export async function deleteContainer(ctx: ExecContext, st: ContainerState): Promise<void> {
  await terminate(st.wrapperPid, st.wrapperStart, st.nspawnPid, ctx.graceMs);
  await releaseResources(ctx, st.spec);
  await rm(containerPaths(ctx.stateDir, st.spec.id).dir, { recursive: true, force: true });
  ctx.log.info({ container: st.spec.id, name: st.spec.name }, 'container deleted');
}

/** Overlay, veths, netns, cgroups, and what a SIGKILLed nspawn left in /run: exist only while the container runs. */
export async function releaseResources(ctx: ExecContext, spec: ContainerSpec): Promise<void> {
  const { merged } = containerPaths(ctx.stateDir, spec.id);
  await removeNspawnLeftovers(spec.id, merged);
  await unmount(spec.name, merged);
  await teardownNetwork(ctx.gw, spec);
  await removeCgroup(spec.id);
}
