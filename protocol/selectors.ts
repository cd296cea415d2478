import { z } from 'zod';
import { LabelKey, LabelValue } from './meta.js';

/**
 * Label selectors as kubectl writes them (`-l tier=web,env!=prod,canary,!legacy`), the `label`
 * query parameter of every list route: all terms must hold.
 */
export type LabelTerm =
  | { op: '='; key: string; value: string }
  | { op: '!='; key: string; value: string }
  | { op: 'exists'; key: string }
  | { op: '!exists'; key: string };

const TERM_RE = /^(!?)([^=!]+)(?:(!=|==|=)(.*))?$/;

/** `tier=web,!legacy` → terms; a message naming the bad term otherwise. */
export function parseSelector(s: string): LabelTerm[] | string {
  const terms: LabelTerm[] = [];
  for (const raw of s.split(',')) {
    const t = raw.trim();
    const m = TERM_RE.exec(t);
    if (!m) return `${t || '(empty)'}: expected KEY=VALUE, KEY!=VALUE, KEY or !KEY`;
    const [, not, key, op, value] = m;
    if (!LabelKey.safeParse(key).success) return `${t}: ${key} is not a label key (such as tier or example.com/tier)`;
    if (op === undefined) terms.push({ op: not ? '!exists' : 'exists', key });
    else if (not) return `${t}: ! goes with a key alone (!KEY)`;
    else if (!LabelValue.safeParse(value).success) return `${t}: ${value} is not a label value`;
    else terms.push({ op: op === '!=' ? '!=' : '=', key, value });
  }
  return terms.length > 16 ? 'at most 16 terms' : terms;
}

/** The `label` query parameter: validated and parsed. */
export const LabelSelector = z
  .string()
  .max(2048)
  .transform((s, ctx) => {
    const r = parseSelector(s);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  })
  .describe('label selector: KEY=VALUE, KEY!=VALUE, KEY (has it), !KEY (has it not), comma separated; all must hold');
