import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { Sealer } from '../secrets/sealer.js';
import { advisoryLeader, soleLeader, type Leadership } from './leader.js';
import type { Random } from './material.js';
import { plan, type KeyAction } from './plan.js';
import { applyAction, loadPlanInput } from './store.js';
import { Serial } from '../../lib/serial.js';

export interface KeyManagerOptions {
  db: Db;
  log: Logger;
  /** Seals key material before it is written (the master key never goes to the database). */
  sealer: Sealer;
  /** PostgreSQL URL for the leader lock's dedicated connection; omitted on PGlite (sole process). */
  databaseUrl?: string;
  /** Periodic rotation (default 24 h). */
  rotateAfterMs?: number;
  /** Re-check interval while a step waits for acks (acks are not notified). */
  pollMs?: number;
  /** Longest sleep when nothing waits. */
  idleMs?: number;
  /** How often a standby replica tries to take over. */
  standbyMs?: number;
  random?: Random;
  leadership?: Leadership;
}

export interface KeyManager {
  /** Runs one planning pass now (also what timers and notifications do). Returns the actions applied. */
  pass(): Promise<KeyAction[]>;
  leading(): boolean;
  close(): Promise<void>;
}

/** Channel the rotate-keys route notifies on (freight_change covers endpoints, nodes and keys). */
export const KEYS_CHANNEL = 'freight_keys';

/**
 * The executor: plans from the database, applies each action in its own transaction, and
 * looks again on a change notification, on a rotation request, every `pollMs` while a step
 * waits for acks, and at the next rotation due time. One replica at a time (advisory lock).
 */
export async function startKeyManager(o: KeyManagerOptions): Promise<KeyManager> {
  const log = o.log.child({ module: 'keys' });
  const rotateAfterMs = o.rotateAfterMs ?? 24 * 3_600_000;
  const pollMs = o.pollMs ?? 500;
  const idleMs = o.idleMs ?? 60_000;
  const standbyMs = o.standbyMs ?? 5000;
  const leader = o.leadership ?? (o.databaseUrl ? advisoryLeader(o.databaseUrl) : soleLeader());
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let wakeAt = Infinity;
  const serial = new Serial();

  const once = async (): Promise<{ actions: KeyAction[]; next: number }> => {
    if (!(await leader.acquire())) return { actions: [], next: standbyMs };
    const input = await loadPlanInput(o.db, rotateAfterMs);
    const p = plan(input);
    const done: KeyAction[] = [];
    for (const a of p.actions) {
      await applyAction(o.db, a, o.sealer, o.random);
      done.push(a);
      log.info(
        { action: a.kind, network: 'networkId' in a ? a.networkId : undefined, generation: a.kind === 'create' ? a.generation : undefined },
        'ipsec key step',
      );
    }
    const next = done.length > 0 ? 0 : p.waiting ? pollMs : Math.min(idleMs, Math.max(0, (p.nextDue ?? Infinity) - input.now));
    return { actions: done, next };
  };

  const pass = (): Promise<KeyAction[]> => {
    return serial.run(async () => {
      if (closed) return [];
      try {
        const { actions, next } = await once();
        schedule(next);
        return actions;
      } catch (err) {
        log.warn({ err }, 'ipsec key pass failed; retrying');
        schedule(Math.max(pollMs, 1000));
        return [];
      }
    });
  };

  function schedule(ms: number): void {
    if (closed) return;
    const at = Date.now() + ms;
    if (timer && at >= wakeAt) return;
    clearTimeout(timer);
    wakeAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      wakeAt = Infinity;
      void pass();
    }, ms);
    timer.unref();
  }

  // notifications come in bursts: one pass shortly after
  const nudge = () => schedule(100);
  const unlisten = [await o.db.listen('freight_change', nudge, nudge), await o.db.listen(KEYS_CHANNEL, nudge, nudge)];
  void pass();
  return {
    pass,
    leading: () => leader.held(),
    async close() {
      closed = true;
      clearTimeout(timer);
      for (const u of unlisten) await u().catch(() => {});
      await serial.idle();
      await leader.release();
    },
  };
}
