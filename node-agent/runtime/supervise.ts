import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from './errors.js';
import { lastRunOutput } from './logs.js';
import { isNspawnOf } from './nspawn.js';
import type { ContainerPaths } from './paths.js';
import { children, cmdline, isAlive, procInfo, signal } from './proc.js';

/**
 * The wrapper: a detached shell (own session, so an agent restart does not take it down) that joins
 * the container's cgroup(s), runs nspawn in the staging netns and in a mount namespace of its own
 * where /sys is read-only (nspawn then skips its udev check for `--network-interface=`: no udevd
 * runs on every node; nothing else changes, the cgroup mounts stay writable), writes nspawn's pid,
 * and after it ends writes its exit code to a file. The output of both goes to the container's log
 * file; the marker lines delimit one run. The tenant's command only ever follows `--` in "$@".
 */
const WRAPPER = [
  'exit_file=$1; pid_file=$2; netns=$3; cgroups=$4; shift 4',
  'echo "--- freight: start $(date -u +%Y-%m-%dT%H:%M:%SZ)"',
  'IFS=:; for f in $cgroups; do echo $$ > "$f" || ' +
    '{ echo "freight-wrap: cannot join cgroup $f"; echo 125 > "$exit_file"; exit 125; }; done; unset IFS',
  'nsenter --net="$netns" -- unshare --mount -- /bin/sh -c \'mount -o remount,bind,ro /sys && exec "$@"\' freight-nspawn "$@" </dev/null &',
  'echo $! > "$pid_file.tmp" && mv "$pid_file.tmp" "$pid_file"',
  'wait $!; rc=$?',
  'echo "--- freight: exit $rc"',
  'echo $rc > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"',
].join('\n');

export interface Launched {
  wrapperPid: number;
  wrapperStart: string;
  nspawnPid: number;
}

export interface LaunchOptions {
  nspawn?: string;
  /** the netns nspawn runs in (the staging netns with the veth peers) */
  netns: string;
  /** `cgroup.procs` files the wrapper joins before nspawn starts */
  cgroups: string[];
  /** How long to wait for the wrapper to report nspawn's pid. */
  timeoutMs?: number;
}

export async function launch(paths: ContainerPaths, id: string, args: string[], opts: LaunchOptions): Promise<Launched> {
  await rm(paths.exit, { force: true });
  await rm(paths.nspawnPid, { force: true });
  const log = openSync(paths.log, 'a', 0o600);
  let wrapperPid: number | undefined;
  try {
    if (opts.cgroups.some((f) => f.includes(':')))
      throw new RuntimeError('cgroup_failed', 'start container', id, 'cgroup path with a colon');
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        WRAPPER,
        'freight-wrap',
        paths.exit,
        paths.nspawnPid,
        opts.netns,
        opts.cgroups.join(':'),
        opts.nspawn ?? 'systemd-nspawn',
        ...args,
      ],
      {
        detached: true,
        stdio: ['ignore', log, log],
      },
    );
    child.on('error', () => {}); // reported below through the missing pid
    child.unref();
    wrapperPid = child.pid;
  } finally {
    closeSync(log);
  }
  const info = wrapperPid ? procInfo(wrapperPid) : null;
  if (!wrapperPid || !info) throw new RuntimeError('nspawn_failed', 'start container', id, 'wrapper shell did not start');
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  while (!existsSync(paths.nspawnPid)) {
    if (existsSync(paths.exit))
      throw new RuntimeError('nspawn_failed', 'start container', id, lastRunOutput(paths).trim().slice(-500) || 'wrapper ended');
    if (Date.now() > deadline) throw new RuntimeError('nspawn_failed', 'start container', id, 'nspawn pid not reported');
    await sleep(2);
  }
  return { wrapperPid, wrapperStart: info.starttime, nspawnPid: Number(readFileSync(paths.nspawnPid, 'utf8')) };
}

/** The exit code the wrapper recorded, or null while nspawn runs (or when the wrapper was killed). */
export function readExit(paths: ContainerPaths): number | null {
  try {
    const n = Number(readFileSync(paths.exit, 'utf8').trim());
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

/** True when the recorded wrapper still runs and its child is this container's nspawn: safe to adopt. */
export function adoptable(id: string, wrapperPid: number | null, wrapperStart: string | null, nspawnPid: number | null): boolean {
  if (!isAlive(wrapperPid, wrapperStart) || !nspawnPid || !isAlive(nspawnPid)) return false;
  return procInfo(nspawnPid)?.ppid === wrapperPid && isNspawnOf(cmdline(nspawnPid), id);
}

/**
 * The nspawn a crashed agent launched but never recorded (it died between launch and state.json):
 * found through the pid file the wrapper wrote, and only if that pid is this container's nspawn.
 */
export function strayNspawn(paths: ContainerPaths, id: string): { nspawnPid: number; wrapperPid: number } | null {
  let pid: number;
  try {
    pid = Number(readFileSync(paths.nspawnPid, 'utf8'));
  } catch {
    return null;
  }
  if (!isAlive(pid) || !isNspawnOf(cmdline(pid), id)) return null;
  return { nspawnPid: pid, wrapperPid: procInfo(pid)?.ppid ?? 0 };
}

/**
 * SIGTERM to nspawn (it powers a booted system off, kills a single command), SIGKILL after the grace
 * period to nspawn AND the container's PID 1: killing nspawn alone leaves the container running.
 */
export async function terminate(
  wrapperPid: number | null,
  wrapperStart: string | null,
  nspawnPid: number | null,
  graceMs: number,
): Promise<void> {
  const alive = () => isAlive(wrapperPid, wrapperStart) || (nspawnPid !== null && isAlive(nspawnPid));
  if (nspawnPid && isAlive(nspawnPid)) signal(nspawnPid, 'SIGTERM');
  if (await waitFor(() => !alive(), graceMs)) return;
  if (nspawnPid && isAlive(nspawnPid)) {
    for (const c of children(nspawnPid)) signal(c, 'SIGKILL');
    signal(nspawnPid, 'SIGKILL');
  }
  if (wrapperPid && isAlive(wrapperPid, wrapperStart)) {
    if (!(await waitFor(() => !alive(), 2000))) signal(wrapperPid, 'SIGKILL');
  }
  await waitFor(() => !alive(), 2000);
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}
