import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { NSPAWN_LOCKS, NSPAWN_PROPAGATE } from '../../node-agent/runtime/nspawn-lock.js';

/**
 * vitest globalSetup. systemd-nspawn locks each container directory it runs with a file
 * `/run/systemd/nspawn/locks/inode-DEV:INO`, and keeps a directory per machine under
 * `/run/systemd/nspawn/propagate`; it removes both on a clean exit. The agent removes them when it
 * releases a container whose nspawn was SIGKILLed (runtime/nspawn-lock.ts); tests that kill
 * nspawn some other way leave them. After the run, those created during it that no process holds
 * (no lock on the file, no nspawn of that machine) are removed.
 */
const LOCKS = NSPAWN_LOCKS;
const PROPAGATE = NSPAWN_PROPAGATE;

const names = (dir: string, prefix: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(prefix)) : []);

function removeNew(dir: string, prefix: string, before: Set<string>, started: number, held: (f: string) => boolean): void {
  for (const f of names(dir, prefix)) {
    const path = `${dir}/${f}`;
    if (before.has(f) || held(f)) continue;
    try {
      if (statSync(path).mtimeMs >= started - 1000) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
  }
}

export function setup(): () => void {
  const started = Date.now();
  const locks = new Set(names(LOCKS, 'inode-'));
  const dirs = new Set(names(PROPAGATE, 'frc-'));
  return () => {
    const lockHeld = new Set(
      (spawnSync('lslocks', ['-n', '-o', 'PATH'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.trim()),
    );
    const machines = spawnSync('pgrep', ['-a', '-x', 'systemd-nspawn'], { encoding: 'utf8' }).stdout ?? '';
    removeNew(LOCKS, 'inode-', locks, started, (f) => lockHeld.has(`${LOCKS}/${f}`));
    removeNew(PROPAGATE, 'frc-', dirs, started, (f) => machines.includes(`--machine=${f}`));
  };
}
