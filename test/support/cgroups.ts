import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, rmdirSync, statSync } from 'node:fs';

/** The cgroup directories the runtime made for a container (`…/freight/<id>` in every hierarchy). */
export function containerCgroups(id: string): string[] {
  if (!/^[0-9a-f-]{8,}$/.test(id)) return [];
  const out = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '8', '-type', 'd', '-path', `*/freight/${id}`], {
    encoding: 'utf8',
  }).stdout;
  return out.split('\n').filter(Boolean);
}

/** Kills every process left in the container's cgroups and removes them (deepest first). */
export function reapCgroups(id: string): void {
  for (const dir of containerCgroups(id)) {
    const tree = spawnSync('find', [dir, '-depth', '-type', 'd'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    for (const d of tree) {
      const procs = existsSync(`${d}/cgroup.procs`) ? readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean) : [];
      for (const pid of procs) spawnSync('kill', ['-9', pid]);
    }
    for (const d of tree) {
      for (let i = 0; i < 40; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          spawnSync('sleep', ['0.05']);
        }
      }
    }
  }
}

/**
 * nspawn's uid-range lock file of a container whose nspawn was SIGKILLed (a clean exit removes it):
 * named by the range's first uid, which owns the container's upper layer after the first start.
 */
export function releaseUidLock(containerDir: string): void {
  try {
    const uid = statSync(`${containerDir}/upper`).uid;
    if (uid >= 65536) rmSync(`/run/systemd/nspawn-uid/${uid}`, { force: true });
  } catch {
    // never started: no range
  }
}
