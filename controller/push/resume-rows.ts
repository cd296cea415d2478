import type { ChangeRow } from '../view/diff.js';
import { logBounds, readChanges } from '../view/load.js';
import type { PushCore } from './core.js';

/** The rows after `r` up to the model's cursor, or undefined when the log no longer holds them all (or too many). */
export async function resumeRows(core: PushCore, r: number): Promise<ChangeRow[] | undefined> {
  const { model, opts } = core;
  const cached = core.resumeCache;
  if (r <= 0 || r > model.cursor) return undefined; // a new agent, or one ahead of this model: a snapshot
  if (cached && cached.cursor === model.cursor && r >= cached.from) return suffix(cached.rows, r);
  core.counters.resumeReads++;
  const { oldest } = await logBounds(core.db);
  if (oldest !== 0 && r < oldest - 1) return undefined;
  const cursor = model.cursor;
  const rows = await readChanges(core.db, r, cursor, opts.maxResumeRows + 1);
  if (rows.length > opts.maxResumeRows) return undefined;
  core.resumeCache = { cursor, from: r, rows };
  return rows;
}

/** The rows with a revision above `r` (rows are in revision order). */
function suffix(rows: ChangeRow[], r: number): ChangeRow[] {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].revision <= r) lo = mid + 1;
    else hi = mid;
  }
  return rows.slice(lo);
}
