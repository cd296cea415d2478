import type { LabelTerm } from '../../protocol/selectors.js';

/** A list's filters: a label selector and field = value conditions (the route validated both). */
export interface ListFilter {
  label?: LabelTerm[];
  /** field name → value; only fields the caller maps to a column are used. */
  fields?: Record<string, string | undefined>;
}

/**
 * SQL conditions for a list's filters, each starting with AND, their values appended to
 * `params` (never interpolated). `columns` maps each filterable field to its SQL expression,
 * `= $n` compared; `labels` is the jsonb column.
 */
export function filterSql(f: ListFilter | undefined, labels: string, columns: Record<string, string>, params: unknown[]): string {
  if (!f) return '';
  const p = (v: unknown) => `$${params.push(v)}`;
  const out: string[] = [];
  for (const t of f.label ?? []) {
    if (t.op === '=') out.push(`${labels} ->> ${p(t.key)} = ${p(t.value)}`);
    else if (t.op === '!=') out.push(`${labels} ->> ${p(t.key)} IS DISTINCT FROM ${p(t.value)}`);
    else if (t.op === 'exists') out.push(`${labels} -> ${p(t.key)} IS NOT NULL`);
    else out.push(`${labels} -> ${p(t.key)} IS NULL`);
  }
  for (const [field, value] of Object.entries(f.fields ?? {}))
    if (value !== undefined && columns[field]) out.push(columns[field].replace('$?', p(value)));
  return out.map((c) => ` AND ${c}`).join('');
}
