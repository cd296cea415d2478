import type { z } from 'zod';
import { mergePatch } from '../../protocol/merge-patch.js';
import { ApiError, fromZod } from '../errors.js';

/** JSON text with object keys sorted: equal values, equal text (for comparing fields). */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** A settings document as a merge patch sees it: fields that are null (unset) are absent. */
export function present(doc: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).filter(([, v]) => v !== null && v !== undefined));
}

export interface Merged<S> {
  settings: S;
  /** Top-level settings whose value changed. */
  changed: string[];
}

/**
 * The generic half of every PATCH: a field fixed at create may be sent with its current value
 * (a client re-sending the whole object), another value answers 409 immutable_field; the rest is
 * merged into the current settings (RFC 7386) and the result validated whole, so a patch either
 * applies completely or not at all. Pure: the caller loaded `current` under a row lock and writes.
 */
export function mergeSettings<S extends Record<string, unknown>>(
  schema: z.ZodType<S>,
  current: Record<string, unknown>,
  fixed: Record<string, unknown>,
  patch: Record<string, unknown>,
  op: string,
): Merged<S> {
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (!(k in fixed)) rest[k] = v;
    else if (canonical(v) !== canonical(fixed[k]))
      throw new ApiError('immutable_field', `${op}: ${k} cannot change in place (it is ${canonical(fixed[k])})`, k);
  }
  const before = schema.safeParse(present(current));
  const r = schema.safeParse(mergePatch(present(current), rest));
  if (!r.success) throw fromZod(r.error, op);
  const old: Record<string, unknown> = before.success ? before.data : current;
  const changed = Object.keys({ ...old, ...r.data }).filter((k) => canonical(old[k]) !== canonical(r.data[k]));
  return { settings: r.data, changed };
}
