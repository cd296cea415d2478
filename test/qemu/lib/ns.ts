/**
 * Namespaces and kernel commands for the guest suites, batched: under TCG every
 * exec costs 0.2-0.5 s, so commands are queued per namespace and run by ONE
 * `ip -batch` (or `bridge -batch`) process per namespace on flush().
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { uniqueTag } from '../../support/netns.js';

const ROOT = '';

function run(bin: 'ip' | 'bridge', ns: string, lines: string[]): void {
  const args = [...(ns === ROOT ? [] : ['-n', ns]), '-batch', '-'];
  const r = spawnSync(bin, args, { input: lines.join('\n') + '\n', encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr}\n  batch:\n  ${lines.join('\n  ')}`);
}

export class Batch {
  private readonly ip = new Map<string, string[]>();
  private readonly br = new Map<string, string[]>();
  /** queue `ip <line>` in a namespace (undefined: the root namespace, for netns add / veth creation) */
  ipCmd(ns: string | undefined, line: string): this {
    return this.queue(this.ip, ns ?? ROOT, line);
  }
  bridgeCmd(ns: string, line: string): this {
    return this.queue(this.br, ns, line);
  }
  /** root namespace first (it creates namespaces and moves links), then each namespace: ip, then bridge */
  flush(): void {
    const ip = [...this.ip];
    const br = [...this.br];
    this.ip.clear();
    this.br.clear();
    for (const [ns, lines] of ip.sort(([a], [b]) => (a === ROOT ? -1 : b === ROOT ? 1 : 0))) run('ip', ns, lines);
    for (const [ns, lines] of br) run('bridge', ns, lines);
  }
  private queue(m: Map<string, string[]>, ns: string, line: string): this {
    const l = m.get(ns) ?? [];
    l.push(line);
    m.set(ns, l);
    return this;
  }
}

/** Namespaces named fq<tag><suffix>, created in batches; cleanup kills what runs inside and deletes them. */
export class NsSet {
  readonly tag = uniqueTag();
  private readonly made: string[] = [];
  /** queues creation (+ lo up) on the batch; returns the name */
  add(b: Batch, suffix: string): string {
    const name = `fq${this.tag}${suffix}`;
    b.ipCmd(undefined, `netns add ${name}`);
    b.ipCmd(name, 'link set lo up');
    this.made.push(name);
    return name;
  }
  cleanup(): void {
    const names = this.made.splice(0).reverse();
    for (const pid of pidsIn(names)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // -force: go on past a namespace that was never created (setup failed midway)
    spawnSync('ip', ['-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}`).join('\n') + '\n' });
  }
}

/** PIDs whose network namespace is one of `names` (compared by inode, no exec). */
function pidsIn(names: string[]): number[] {
  const inodes = new Set<number>();
  for (const n of names) {
    try {
      inodes.add(statSync(`/run/netns/${n}`).ino);
    } catch {
      // never created
    }
  }
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const m = /net:\[(\d+)\]/.exec(readlinkSync(`/proc/${d}/ns/net`));
      if (m && inodes.has(Number(m[1]))) pids.push(Number(d));
    } catch {
      // process ended
    }
  }
  return pids;
}
