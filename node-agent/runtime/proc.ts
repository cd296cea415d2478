import { readFileSync } from 'node:fs';

/** What /proc says about a process: its state letter and start time (clock ticks since boot). */
export interface ProcInfo {
  state: string;
  ppid: number;
  starttime: string;
}

export function procInfo(pid: number): ProcInfo | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0], ppid: Number(rest[1]), starttime: rest[19] };
}

/** Alive and not a zombie; with `starttime`, also the same process (pids get reused). */
export function isAlive(pid: number | null, starttime?: string | null): boolean {
  if (!pid) return false;
  const p = procInfo(pid);
  if (!p || p.state === 'Z' || p.state === 'X') return false;
  return starttime == null || p.starttime === starttime;
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

export function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
