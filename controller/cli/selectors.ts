import type { Command } from 'commander';
import { collect } from './parse.js';
import { InvalidArgumentError } from 'commander';

/** `-l` and `--filter` of list commands, sent as the list route's query parameters (the API validates them). */
export interface SelectorFlags {
  selector?: string[];
  filter?: string[];
}

const filterOf = (v: string, prev: string[] = []) => {
  if (!/^[A-Za-z]+=.+$/.test(v)) throw new InvalidArgumentError('expected FIELD=VALUE, e.g. type=vxlan');
  return collect(v, prev);
};

export function selectorOptions(c: Command): Command {
  return c
    .option(
      '-l, --selector <labels>',
      'only objects whose labels match: KEY=VALUE, KEY!=VALUE, KEY, !KEY, comma separated (repeatable)',
      collect,
    )
    .option('--filter <field=value>', 'only objects whose field has this value (repeatable; the fields are listed below)', filterOf);
}

/** The query string of a list request (`?label=…&type=…`), '' without selectors. */
export function listQuery(o: SelectorFlags): string {
  const q = new URLSearchParams();
  if (o.selector?.length) q.set('label', o.selector.join(','));
  for (const f of o.filter ?? []) {
    const i = f.indexOf('=');
    q.append(f.slice(0, i), f.slice(i + 1));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
