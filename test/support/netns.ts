import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Kernel tests need root; without it they skip with this reason. */
export const isRoot = process.getuid?.() === 0;
export const SKIP_REASON = 'kernel tests need root (they create network namespaces)';

export function sh(
  cmd: string,
  args: string[],
  opts: { ns?: string; allowFail?: boolean; input?: string; timeoutMs?: number } = {},
): string {
  const argv = opts.ns ? ['netns', 'exec', opts.ns, cmd, ...args] : args;
  const bin = opts.ns ? 'ip' : cmd;
  const timeout = opts.timeoutMs ?? 60_000;
  const r = spawnSync(bin, argv, { encoding: 'utf8', input: opts.input, timeout });
  if (r.status !== 0 && !opts.allowFail) {
    const why = r.signal ? `killed by ${r.signal}${r.error ? ` after the ${timeout} ms timeout` : ''}` : `exit ${r.status}`;
    throw new Error(`${bin} ${argv.join(' ')} failed (${why}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

/** A unique short tag for namespace names, so parallel or leftover runs never collide. */
export function uniqueTag(): string {
  return randomBytes(3).toString('hex');
}

/** Tracks namespaces a test made and removes them all, whatever happened. */
export class Namespaces {
  private readonly made: string[] = [];
  add(name: string): string {
    execFileSync('ip', ['netns', 'add', name]);
    this.made.push(name);
    sh('ip', ['link', 'set', 'lo', 'up'], { ns: name });
    return name;
  }
  cleanup(): void {
    for (const ns of this.made.reverse()) {
      // kill what still runs inside, then delete
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) spawnSync('kill', ['-9', pid]);
      spawnSync('ip', ['netns', 'del', ns]);
    }
    this.made.length = 0;
  }
}
