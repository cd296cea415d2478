import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { z } from 'zod';
import type { ContainerStatus } from '../../protocol/stream.js';
import { RuntimeError, errorMessage } from './errors.js';
import { containerPaths, containersDir } from './paths.js';
import { ContainerSpec } from './spec.js';

/**
 * created: prepared, never started · running: process alive · stopped: stopped on request ·
 * exited: the command ended by itself · failed: could not run (reason) · pending: waiting for
 * something outside the container (its network's bridge) and retried.
 */
export const Phase = z.enum(['created', 'running', 'stopped', 'exited', 'failed', 'pending']);
export type Phase = z.infer<typeof Phase>;

/** `<state>/containers/<id>/state.json`: what a restarted agent needs to adopt the container. */
export const ContainerState = z.object({
  spec: ContainerSpec,
  phase: Phase,
  /** The detached wrapper shell (session leader) and its start time in clock ticks, against pid reuse. */
  wrapperPid: z.number().int().nullable(),
  wrapperStart: z.string().nullable(),
  nspawnPid: z.number().int().nullable(),
  startedAt: z.number().nullable(),
  exitedAt: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  reason: z.string().nullable(),
  /** Restarts done by the restart policy, in total (reported) and since the last stable run (backoff). */
  restarts: z.number().int(),
  backoff: z.number().int(),
});
export type ContainerState = z.infer<typeof ContainerState>;

export function freshState(spec: ContainerSpec): ContainerState {
  return {
    spec,
    phase: 'created',
    wrapperPid: null,
    wrapperStart: null,
    nspawnPid: null,
    startedAt: null,
    exitedAt: null,
    exitCode: null,
    reason: null,
    restarts: 0,
    backoff: 0,
  };
}

/**
 * state.json holds the tenant's command and environment: 0600 in a 0700 directory (modes set
 * explicitly, so files and directories of older agents are tightened on the next write).
 */
export async function writeState(stateDir: string, st: ContainerState): Promise<void> {
  const p = containerPaths(stateDir, st.spec.id);
  await privateDir(p.dir);
  await writeFileAtomic(p.state, JSON.stringify(st, null, 1), 0o600); // a fresh temp file: 0600, never an old mode
}

/** mkdir -p with mode 0700 for the created and the final directory. */
export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

export async function readState(stateDir: string, id: string): Promise<ContainerState | null> {
  const p = containerPaths(stateDir, id).state;
  if (!existsSync(p)) return null;
  try {
    return ContainerState.parse(JSON.parse(await readFile(p, 'utf8')));
  } catch (e) {
    throw new RuntimeError('state_invalid', 'read state', p, errorMessage(e), false, { cause: e });
  }
}

/** Every container recorded on disk; unreadable ones are returned by id so they can be cleaned up. */
export async function listStates(stateDir: string): Promise<{ states: ContainerState[]; broken: string[] }> {
  const ids = await readdir(containersDir(stateDir)).catch(() => [] as string[]);
  const states: ContainerState[] = [];
  const broken: string[] = [];
  for (const id of ids) {
    try {
      const st = await readState(stateDir, id);
      if (st) states.push(st);
      else broken.push(id);
    } catch {
      broken.push(id);
    }
  }
  return { states, broken };
}

export function toStatus(st: ContainerState): ContainerStatus {
  const state: ContainerStatus['state'] = st.phase === 'created' || st.phase === 'stopped' ? 'stopped' : st.phase;
  return { id: st.spec.id, state, exitCode: st.exitCode, reason: st.reason?.slice(0, 2000) ?? null, restarts: st.restarts };
}
