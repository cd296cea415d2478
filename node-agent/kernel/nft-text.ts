/**
 * Pure: nft JSON commands (the planner's batches) rendered in nft's own syntax. `nft -f` of the
 * text loads a large table about twice as fast as `nft -j -f` of the same JSON (bench/policy.ts),
 * and the text is a fifth of the size. Only the expressions the agent's tables use are known;
 * anything else (or any value that is not a plain token) renders as undefined and the caller
 * applies the JSON instead, so the renderer can never change what a batch means.
 * test/netns/nft-text.test.ts loads both forms into namespaces and compares the listings.
 */
import { NFT_TABLE } from '../names.js';
import type { NftCommand, NftTable } from './nft-types.js';

type Obj = Record<string, unknown>;

/** Thrown inside the renderer for anything it does not know; nftText turns it into undefined. */
class Unknown extends Error {}
const unknown = (what: unknown): never => {
  throw new Unknown(JSON.stringify(what).slice(0, 200));
};

const TOKEN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** payload fields, e.g. `saddr` or ARP's `saddr ether` */
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*(?: [A-Za-z_][A-Za-z0-9_]*)?$/;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const COMMENT = /^[A-Za-z0-9 _.,:/-]{0,128}$/;
// IPv4 addresses and prefixes, numbers, MACs, protocol and conntrack-state keywords
const BARE =
  /^(?:\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?|\d+|(?:[0-9a-f]{2}:){5}[0-9a-f]{2}|tcp|udp|icmp|ip|ip6|arp|established|related|invalid|new)$/i;
const STRING = /^[A-Za-z0-9_.-]{1,64}$/;

const tok = (s: unknown, re = TOKEN): string => (typeof s === 'string' && re.test(s) ? s : unknown(s));

/** A literal: addresses, numbers, MACs and protocol/state keywords bare, names (interfaces) quoted. */
function literal(v: unknown): string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v !== 'string') return unknown(v);
  if (v.startsWith('@')) return `@${tok(v.slice(1), NAME)}`;
  if (BARE.test(v)) return v;
  if (STRING.test(v)) return `"${v}"`;
  return unknown(v);
}

function left(e: unknown): string {
  const o = e as Obj;
  if (o && typeof o === 'object') {
    if ('meta' in o) return `meta ${tok((o.meta as Obj).key)}`;
    if ('ct' in o) return `ct ${tok((o.ct as Obj).key)}`;
    if ('rt' in o) return `rt ${tok((o.rt as Obj).key)}`;
    if ('concat' in o && Array.isArray(o.concat)) {
      let out = '';
      for (const x of o.concat) out += (out ? ' . ' : '') + left(x);
      return out;
    }
    if ('payload' in o) {
      const p = o.payload as Obj;
      if (p.base !== undefined) return `@${tok(p.base)},${literal(p.offset)},${literal(p.len)}`;
      return `${tok(p.protocol)} ${tok(p.field, FIELD)}`;
    }
  }
  return unknown(e);
}

const range = (o: Obj): string | undefined =>
  'range' in o && Array.isArray(o.range) && o.range.length === 2 ? `${literal(o.range[0])}-${literal(o.range[1])}` : undefined;
/** An anonymous set's element: a literal or a range (`{ 80, 8000-8100 }`). */
const setElement = (v: unknown): string => (v && typeof v === 'object' ? (range(v as Obj) ?? unknown(v)) : literal(v));

function right(v: unknown): string {
  if (typeof v === 'boolean') return v ? 'exists' : 'missing';
  if (Array.isArray(v)) return v.map(literal).join(',');
  if (v && typeof v === 'object') {
    const o = v as Obj;
    if ('set' in o && Array.isArray(o.set)) return `{ ${o.set.map(setElement).join(', ')} }`;
    const r = range(o);
    if (r !== undefined) return r;
    if ('prefix' in o) {
      const p = o.prefix as Obj;
      return `${literal(p.addr)}/${literal(p.len)}`;
    }
    if ('concat' in o && Array.isArray(o.concat)) return o.concat.map(literal).join(' . ');
  }
  return literal(v);
}

function statement(s: unknown): string {
  const o = s as Obj;
  if (o && typeof o === 'object') {
    if ('match' in o) {
      const m = o.match as Obj;
      const op = m.op === '==' || m.op === 'in' ? '' : m.op === '!=' ? '!= ' : unknown(m.op);
      return `${left(m.left)} ${op}${right(m.right)}`;
    }
    if ('counter' in o) return o.counter === null ? 'counter' : `counter name "${tok(o.counter, NAME)}"`;
    if ('accept' in o) return 'accept';
    if ('drop' in o) return 'drop';
    if ('jump' in o) return `jump ${tok((o.jump as Obj).target, NAME)}`;
    if ('mangle' in o) {
      const m = o.mangle as Obj;
      const key = (m.key as Obj | undefined)?.ct as Obj | undefined;
      if (key?.key === 'zone') return `ct zone set ${literal(m.value)}`;
    }
  }
  return unknown(s);
}

const where = (o: Obj) => `${tok(o.family)} ${tok(o.table ?? o.name, NAME)}`;

function element(e: unknown): string {
  if (e && typeof e === 'object' && 'concat' in (e as Obj)) {
    let out = '';
    for (const x of (e as Obj).concat as unknown[]) out += (out ? ' . ' : '') + literal(x);
    return out;
  }
  return literal(e);
}

/** Rendered once per expression array: the planner reuses a rule's expression while the rule is unchanged. */
const bodies = new WeakMap<unknown[], string>();

function ruleBody(expr: unknown[]): string {
  let body = bodies.get(expr);
  if (body === undefined) {
    body = '';
    for (const e of expr) body += (body ? ' ' : '') + statement(e);
    bodies.set(expr, body);
  }
  return body;
}

/** A rule's body and comment as tableText writes them (the form an NftRule's `text` must match). */
export function ruleLine(r: { expr: unknown[]; comment: string }): string {
  const comment = COMMENT.test(r.comment) ? r.comment : unknown(r.comment);
  return `${ruleBody(r.expr)}${comment ? ` comment "${comment}"` : ''}`;
}

/** Elements per `add element` line: nft parses one huge line slower than several. */
const CHUNK = 1000;

function add(kind: string, o: Obj): string[] {
  switch (kind) {
    case 'table':
      return [`add table ${where(o)}`];
    case 'counter': {
      const values = o.packets !== undefined ? ` { packets ${literal(o.packets)} bytes ${literal(o.bytes)} }` : '';
      return [`add counter ${where(o)} ${tok(o.name, NAME)}${values}`];
    }
    case 'set': {
      const type = (Array.isArray(o.type) ? o.type : [o.type]).map((t) => tok(t)).join(' . ');
      const stmt = (o.stmt as Obj[] | undefined) ?? [];
      if (stmt.some((s) => !('counter' in s))) unknown(stmt);
      return [`add set ${where(o)} ${tok(o.name, NAME)} { type ${type};${stmt.length ? ' counter;' : ''} }`];
    }
    case 'chain': {
      const name = tok(o.name, NAME);
      if (!o.hook) return [`add chain ${where(o)} ${name}`];
      const prio = typeof o.prio === 'number' && Number.isInteger(o.prio) ? o.prio : unknown(o.prio);
      return [
        `add chain ${where(o)} ${name} { type ${tok(o.type)} hook ${tok(o.hook)} priority ${prio}; policy ${tok(o.policy ?? 'accept')}; }`,
      ];
    }
    case 'rule': {
      const body = ruleBody(o.expr as unknown[]);
      const comment = typeof o.comment === 'string' && COMMENT.test(o.comment) ? ` comment "${o.comment}"` : unknown(o.comment);
      return [`add rule ${where(o)} ${tok(o.chain, NAME)} ${body}${o.comment ? comment : ''}`];
    }
    case 'element': {
      const elems = o.elem as unknown[];
      const head = `add element ${where(o)} ${tok(o.name, NAME)} { `;
      const lines: string[] = [];
      for (let i = 0; i < elems.length; i += CHUNK) {
        let line = head;
        for (let j = i; j < Math.min(elems.length, i + CHUNK); j++) line += (j > i ? ', ' : '') + element(elems[j]);
        lines.push(`${line} }`);
      }
      return lines;
    }
  }
  return unknown(kind);
}

function command(c: NftCommand): string[] {
  const verbs = Object.keys(c);
  if (verbs.length !== 1) return unknown(c);
  const verb = verbs[0];
  const body = c[verb] as Obj;
  const kinds = Object.keys(body ?? {});
  if (kinds.length !== 1) return unknown(c);
  const o = body[kinds[0]] as Obj;
  if (verb === 'add') return add(kinds[0], o);
  if (verb === 'delete' && kinds[0] === 'table') return [`delete table ${where(o)}`];
  if (verb === 'delete' && kinds[0] === 'element') return add('element', o).map((l) => l.replace(/^add element/, 'delete element'));
  return unknown(c);
}

/** The batch in nft syntax (one line per command), or undefined when any part is not known. */
export function nftText(commands: NftCommand[]): string | undefined {
  try {
    // one join, not += per line: the result is one flat string (a rope of 14,000 pieces cost
    // more to flatten when written than to build)
    const lines: string[] = [];
    for (const c of commands) for (const line of command(c)) lines.push(line);
    lines.push('');
    return lines.join('\n');
  } catch (e) {
    if (e instanceof Unknown) return undefined;
    throw e;
  }
}

/** A canonical element of the table model (`a . b`). */
const canonicalElement = (e: string): string => (e.includes(' . ') ? e.split(' . ').map(literal).join(' . ') : literal(e));

/**
 * A whole table's replacement in nft's block syntax, as `nft list` prints a table: the same
 * batch as nftText(replaceCommands(t, carry)) (nft-table.ts), which nft parses faster than one
 * `add` command per rule (bench/policy.ts). Undefined when any part is not known.
 */
export function tableText(t: NftTable, carry: NftTable['counterValues'] = {}): string | undefined {
  try {
    const fam = tok(t.family);
    const out: string[] = [`add table ${fam} ${NFT_TABLE}`, `delete table ${fam} ${NFT_TABLE}`, `table ${fam} ${NFT_TABLE} {`];
    for (const name of t.counters) {
      const v = carry[name];
      out.push(`counter ${tok(name, NAME)} { packets ${literal(v?.packets ?? 0)} bytes ${literal(v?.bytes ?? 0)} }`);
    }
    for (const s of t.sets) {
      const type = (Array.isArray(s.type) ? s.type : [s.type]).map((x) => tok(x)).join(' . ');
      out.push(`set ${tok(s.name, NAME)} { type ${type};${s.counter ? ' counter;' : ''}`);
      if (s.elems.length) out.push(`elements = { ${s.elems.map(canonicalElement).join(',\n')} }`);
      out.push('}');
    }
    const byChain = new Map<string, string[]>();
    for (const r of t.rules) {
      const body = r.text ?? ruleLine(r);
      const list = byChain.get(r.chain);
      if (list) list.push(body);
      else byChain.set(r.chain, [body]);
    }
    // a rule of a chain the table does not declare: the JSON batch would fail on it, so must this
    const declared = new Set(t.chains.map((c) => c.name));
    for (const chain of byChain.keys()) if (!declared.has(chain)) unknown(chain);
    for (const c of t.chains) {
      out.push(`chain ${tok(c.name, NAME)} {`);
      if (c.hook) {
        const prio = Number.isInteger(c.prio ?? 0) ? (c.prio ?? 0) : unknown(c.prio);
        out.push(`type filter hook ${tok(c.hook)} priority ${prio}; policy accept;`);
      }
      for (const body of byChain.get(c.name) ?? []) out.push(body);
      out.push('}');
    }
    out.push('}', '');
    return out.join('\n');
  } catch (e) {
    if (e instanceof Unknown) return undefined;
    throw e;
  }
}
