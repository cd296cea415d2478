import { ApiError } from '../errors.js';

export interface Page<T> {
  items: T[];
  /** Cursor for `?after=` to fetch the next page; null on the last page. */
  next: string | null;
}

/** Opaque cursor: base64url of the JSON array of sort-key values of the last item. */
export function encodeCursor(key: Array<string | number>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(after: string | undefined, arity: number): Array<string> | null {
  if (after === undefined || after === '') return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === arity && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.map(String);
  } catch {
    // fall through
  }
  throw new ApiError('invalid', 'list: after is not a cursor returned by this API', 'after');
}

/** Rows were fetched with LIMIT limit+1: trims the extra one and derives the cursor. */
export function toPage<R, T>(rows: R[], limit: number, key: (r: R) => Array<string | number>, map: (r: R) => T): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept.map(map), next: more && kept.length ? encodeCursor(key(kept[kept.length - 1])) : null };
}
