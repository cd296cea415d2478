import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';

/**
 * vitest globalSetup. systemd-nspawn locks each container directory it runs with a file
 * `/run/systemd/nspawn/locks/inode-DEV:INO` and unlinks it on a clean exit; an nspawn that is
 * SIGKILLed (tests that simulate a crash, or a container past its stop grace period) leaves it.
 * After the run, the lock files it created that no process holds are removed.
 */
const LOCKS = '/run/systemd/nspawn/locks';

const names = (): string[] => (existsSync(LOCKS) ? readdirSync(LOCKS).filter((f) => f.startsWith('inode-')) : []);

export function setup(): () => void {
  const started = Date.now();
  const before = new Set(names());
  return () => {
    const held = new Set((spawnSync('lslocks', ['-n', '-o', 'PATH'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.trim()));
    for (const f of names()) {
      const file = `${LOCKS}/${f}`;
      if (before.has(f) || held.has(file)) continue;
      try {
        if (statSync(file).mtimeMs >= started - 1000) rmSync(file, { force: true });
      } catch {
        // gone meanwhile
      }
    }
  };
}
