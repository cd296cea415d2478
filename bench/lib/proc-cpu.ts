/**
 * CPU time of processes from /proc (user + system, ms), to say where a phase's CPU went on a
 * machine every process shares: replicas, simulated agents, API clients and PostgreSQL.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of one process (ms); 0 when it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** The pids of every PostgreSQL process (backends, WAL writer, checkpointer, …). */
export function postgresPids(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU of groups of processes between two readings: `start()` then `stop()` → ms per group. */
export class CpuSplit {
  private readonly t0 = new Map<number, number>();
  constructor(private readonly groups: Record<string, () => number[]>) {}

  start(): void {
    for (const pids of Object.values(this.groups)) for (const p of pids()) this.t0.set(p, cpuMs(p));
  }

  /** Per group: CPU since start (a process started meanwhile counts from 0). */
  stop(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pids] of Object.entries(this.groups))
      out[name] = pids().reduce((s, p) => s + Math.max(0, cpuMs(p) - (this.t0.get(p) ?? 0)), 0);
    return out;
  }
}
