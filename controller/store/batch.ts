import { isUnavailable, type Db, type Queryable } from './db.js';
import { ApiError } from '../errors.js';
import { batchMemo, type TxMemo } from './containers.js';
import { flushCreates } from './container-insert.js';
import { enterScope, type Scope } from './scope.js';

/**
 * Group commit for container creates. Every write takes the change-log lock until its
 * commit, and a commit waits for the WAL flush (5 ms on this machine's disk), so one
 * create per transaction caps the whole cluster near 1/fsync. The batcher runs the creates
 * that queued up meanwhile in one transaction, and those that queue while it runs join it (up
 * to maxBatch): a batch's first create waits on the network lock and a few round trips, and
 * the API clients answered by the last commit come back in that time.
 *
 * A job may throw an ApiError only before it writes (createContainer does): the job fails,
 * the others go on. Any other error aborted the transaction: nothing was committed, and
 * every job of the batch runs again on its own.
 */
export interface Batcher {
  /** `scope`: the row-level security scope the job runs in (each job of a batch gets its own); omitted → the owner. */
  run<T>(job: (q: Queryable, memo: TxMemo) => Promise<T>, scope?: Scope): Promise<T>;
}

interface Pending {
  job: (q: Queryable, memo: TxMemo) => Promise<unknown>;
  scope?: Scope;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export function createBatcher(db: Db, maxBatch = 64): Batcher {
  const queue: Pending[] = [];
  let running = false;

  // the scope in force in a transaction (tracked per memo): consecutive jobs of one tenant enter it once
  const scopes = new WeakMap<TxMemo, Scope>();
  const step = async (p: Pending, q: Queryable, memo: TxMemo) => {
    // deferred creates are written in the scope they were made in (row-level security)
    if (scopes.get(memo) !== p.scope) await flushCreates(q, memo.deferred);
    if (p.scope !== undefined && scopes.get(memo) !== p.scope) {
      await enterScope(q, p.scope);
      scopes.set(memo, p.scope);
    } else if (p.scope === undefined && scopes.has(memo)) {
      await q.query("SELECT set_config('role', 'none', true), set_config('freight.tenant', '', true)"); // back to the owner
      scopes.delete(memo);
    }
    return p.job(q, memo);
  };
  const failQueued = (err: unknown) => {
    for (const p of queue.splice(0)) p.reject(err);
  };
  /** One job in its own transaction (a replay), its deferred create written before the commit. */
  const alone = (p: Pending) =>
    db
      .tx(async (q) => {
        const memo = batchMemo();
        const v = await step(p, q, memo);
        await flushCreates(q, memo.deferred);
        return v;
      })
      .then(p.resolve, p.reject);

  async function runBatch(batch: Pending[]): Promise<void> {
    const results: Array<{ ok: boolean; v: unknown }> = [];
    try {
      await db.tx(async (q) => {
        const memo = batchMemo();
        for (let i = 0; i < batch.length; i++) {
          try {
            results.push({ ok: true, v: await step(batch[i], q, memo) });
          } catch (err) {
            if (!(err instanceof ApiError)) throw err;
            results.push({ ok: false, v: err });
          }
          // jobs that queued meanwhile (while this one waited for a lock, say) join the batch:
          // one commit, and one wait for the network lock, for more of them
          if (i === batch.length - 1 && batch.length < maxBatch) batch.push(...queue.splice(0, maxBatch - batch.length));
        }
        await flushCreates(q, memo.deferred);
      });
    } catch (err) {
      // the database is gone or stalled: replaying each job alone (and running what queued
      // meanwhile) would wait out the timeout again per job; they all get the same answer now
      if (isUnavailable(err)) {
        for (const p of batch) p.reject(err);
        return failQueued(err);
      }
      // a batch of one has had its own transaction: its error is its answer
      if (batch.length === 1) return batch[0].reject(err);
      await Promise.all(batch.map(alone));
      return;
    }
    batch.forEach((p, i) => (results[i].ok ? p.resolve(results[i].v) : p.reject(results[i].v)));
  }

  async function drain(): Promise<void> {
    running = true;
    try {
      while (queue.length > 0) await runBatch(queue.splice(0, maxBatch));
    } finally {
      running = false;
    }
  }

  return {
    run<T>(job: (q: Queryable, memo: TxMemo) => Promise<T>, scope?: Scope): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ job, scope, resolve: resolve as (v: unknown) => void, reject });
        if (!running) void drain();
      });
    },
  };
}
