import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/backends.js';
import { ApiError } from '../errors.js';
import { createBatcher } from './batch.js';
import type { Db, Queryable } from './db.js';

const txid = async (q: Queryable) => (await q.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0].x;

describe.each(BACKENDS)('group commit on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ db, drop } = await backend.open()));
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('jobs queued while a batch runs join it: one transaction, each its own answer', async () => {
    const batcher = createBatcher(db);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // the first job runs alone at first; the others queue while it waits
    const first = batcher.run(async (q) => {
      const x = await txid(q);
      await held;
      return x;
    });
    const later = [batcher.run(txid), batcher.run(txid), batcher.run(async () => Promise.reject(new ApiError('invalid', 'refused')))];
    release();
    const [a, b, c] = await Promise.all([first, later[0], later[1]]);
    expect([b, c]).toEqual([a, a]);
    await expect(later[2]).rejects.toMatchObject({ code: 'invalid' });
  });

  it('a batch of one that fails answers with its own error, once', async () => {
    const batcher = createBatcher(db);
    let runs = 0;
    const err = await batcher
      .run(async (q) => {
        runs++;
        await q.query('SELECT 1 FROM no_such_table');
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no_such_table/);
    expect(runs).toBe(1);
  });
});
