/**
 * Per-container cgroups: the kernel enforces each container's memory, CPU and task limits.
 * cgroup v2 (Debian 12 hosts, the kernel-test guest): `/sys/fs/cgroup/freight/<id>`, a top-level
 * cgroup of freight's own rather than a subtree of the agent's unit: under systemd 252 (no
 * DelegateSubgroup=) a unit cgroup with controllers enabled for children cannot take the restarted
 * agent (no internal processes), and containers must outlive the agent anyway. cgroup v1 or hybrid
 * (memory, pids, cpu as v1 hierarchies): `<agent's cgroup in each>/freight/<id>`.
 * The wrapper shell joins the container's cgroup(s) before it execs nspawn (systemd is not PID 1
 * everywhere, so no `--property`/scope); nspawn and the container inherit it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerLimits } from '../../protocol/view.js';
import { RuntimeError, errorMessage } from './errors.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
const CPU_PERIOD_US = 100_000;

export type CgroupLayout =
  | { kind: 'v2'; parent: string }
  | {
      kind: 'v1';
      parents: Record<(typeof V1_CONTROLLERS)[number], string>;
      /** the name=systemd and (hybrid) unified hierarchies: no limits, but nspawn makes the container's own cgroup there */
      extra: string[];
    };

/** `/proc/self/cgroup` → controller (or '' for v2) → path. */
function ownCgroups(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, ctrls, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (path === undefined) continue;
    for (const c of ctrls.split(',')) m.set(c, path);
  }
  return m;
}

const read = (f: string): string => readFileSync(f, 'utf8');

let cached: CgroupLayout | null = null;

/** Where container cgroups go on this node (decided once per process). */
export function cgroupLayout(): CgroupLayout {
  if (cached) return cached;
  const own = ownCgroups();
  const unified = join(CGROUP_ROOT, 'cgroup.controllers');
  if (existsSync(unified) && /\bmemory\b/.test(read(unified)) && /\bpids\b/.test(read(unified))) {
    cached = { kind: 'v2', parent: parentV2() };
  } else if (V1_CONTROLLERS.every((c) => existsSync(join(CGROUP_ROOT, c, 'cgroup.procs')))) {
    const parents = Object.fromEntries(
      V1_CONTROLLERS.map((c) => {
        const dir = join(CGROUP_ROOT, c, own.get(c) ?? '/', 'freight');
        mkdirSync(dir, { recursive: true });
        return [c, dir];
      }),
    ) as Record<(typeof V1_CONTROLLERS)[number], string>;
    // with --keep-unit nspawn puts the container below its own cgroup in these and hands that subtree
    // to the container's uid range; below the root cgroup it cannot, and a booted systemd inside fails
    // ("Failed to create /init.scope control group: Permission denied")
    const extra = [
      ['systemd', 'name=systemd'],
      ['unified', ''],
    ]
      .filter(([dir]) => existsSync(join(CGROUP_ROOT, dir, 'cgroup.procs')))
      .map(([dir, key]) => {
        const p = join(CGROUP_ROOT, dir, own.get(key) ?? '/', 'freight');
        mkdirSync(p, { recursive: true });
        return p;
      });
    cached = { kind: 'v1', parents, extra };
  } else {
    throw new RuntimeError(
      'cgroup_unavailable',
      'cgroups',
      CGROUP_ROOT,
      'neither cgroup v2 with memory+pids nor cgroup v1 memory, pids, cpu hierarchies',
    );
  }
  return cached;
}

/** v2: `<root>/freight` with memory, pids, cpu enabled for its children (the root may have processes). */
function parentV2(): string {
  const own = CGROUP_ROOT;
  const wanted = ['memory', 'pids', 'cpu'].filter((c) => new RegExp(`\\b${c}\\b`).test(read(join(own, 'cgroup.controllers'))));
  // one write per controller: memory and pids are required, cpu only makes `cpus` work (cpu.max absent otherwise)
  const enable = (dir: string) => {
    for (const c of wanted) {
      try {
        writeFileSync(join(dir, 'cgroup.subtree_control'), `+${c}`);
      } catch (e) {
        if (c !== 'cpu') throw new RuntimeError('cgroup_unavailable', `enable ${c} in`, dir, errorMessage(e), false, { cause: e });
      }
    }
  };
  enable(own);
  const parent = join(own, 'freight');
  mkdirSync(parent, { recursive: true });
  enable(parent);
  return parent;
}

/** The container's cgroup directories (one in v2, one per controller in v1). */
export function cgroupDirs(id: string, layout = cgroupLayout()): string[] {
  return layout.kind === 'v2' ? [join(layout.parent, id)] : [...Object.values(layout.parents), ...layout.extra].map((p) => join(p, id));
}

/** The files the interface writes for these limits (pure). */
export function limitFiles(kind: CgroupLayout['kind'], l: ContainerLimits): Array<{ controller: string; file: string; value: string }> {
  const quota = l.cpus === null ? null : Math.max(1000, Math.round(l.cpus * CPU_PERIOD_US));
  if (kind === 'v2') {
    return [
      { controller: '', file: 'memory.max', value: String(l.memory) },
      { controller: '', file: 'memory.swap.max', value: '0' },
      { controller: '', file: 'pids.max', value: String(l.pids) },
      { controller: '', file: 'cpu.max', value: `${quota ?? 'max'} ${CPU_PERIOD_US}` },
    ];
  }
  return [
    { controller: 'memory', file: 'memory.limit_in_bytes', value: String(l.memory) },
    { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(l.memory) },
    { controller: 'pids', file: 'pids.max', value: String(l.pids) },
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(quota ?? -1) },
  ];
}

/**
 * A fresh cgroup with the limits (a leftover of the last run is removed first, so its OOM counter
 * starts at 0). Returns the `cgroup.procs` files the wrapper joins.
 */
export async function prepareCgroup(id: string, limits: ContainerLimits): Promise<string[]> {
  const layout = cgroupLayout();
  await removeCgroup(id);
  const dirs = cgroupDirs(id, layout);
  for (const d of dirs) mkdirSync(d, { recursive: true });
  writeLimits(id, limits, layout);
  return dirs.map((d) => join(d, 'cgroup.procs'));
}

/**
 * New limits for a running container, in place (a PATCH of memory, cpus or pids): the kernel applies
 * them at once; memory below the current usage is reclaimed, or the container is OOM-killed.
 */
export function setLimits(id: string, limits: ContainerLimits): void {
  writeLimits(id, limits, cgroupLayout());
}

function writeLimits(id: string, limits: ContainerLimits, layout: CgroupLayout): void {
  const dirs = cgroupDirs(id, layout);
  for (const f of limitFiles(layout.kind, limits)) {
    const dir = layout.kind === 'v2' ? dirs[0] : join(layout.parents[f.controller as 'memory'], id);
    const path = join(dir, f.file);
    if (!existsSync(path)) continue; // memsw / swap.max: absent without swap accounting, nothing to cap then
    try {
      writeFileSync(path, f.value);
    } catch (e) {
      throw new RuntimeError('cgroup_failed', 'set limit', path, `${f.value}: ${errorMessage(e)}`, false, { cause: e });
    }
  }
}

/** How many processes the kernel's OOM killer killed in the container's cgroup (0 when unknown). */
export function oomKills(id: string): number {
  const layout = cgroupLayout();
  const file = layout.kind === 'v2' ? join(layout.parent, id, 'memory.events') : join(layout.parents.memory, id, 'memory.oom_control');
  try {
    const m = read(file).match(/^oom_kill (\d+)$/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Removes the container's cgroups, sub-cgroups (nspawn's payload/supervisor in v2) first. Absent is
 * fine; a cgroup whose last tasks are still being reaped gets a few retries.
 */
export async function removeCgroup(id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      for (const d of cgroupDirs(id)) removeTree(d);
      return;
    } catch (e) {
      if (attempt >= 20) throw e;
      await sleep(50);
    }
  }
}

function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch (e) {
    throw new RuntimeError('cgroup_failed', 'remove cgroup', dir, `${errorMessage(e)} (processes still in it?)`, false, { cause: e });
  }
}
