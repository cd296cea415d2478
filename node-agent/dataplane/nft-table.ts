/**
 * Pure: an nft table as the dataplane models it (desired, and parsed back from
 * `nft -j list table`), and the plan between the two. Rules are identified by their
 * comment (which carries a version tag and any rule-embedded constants): when the
 * table's structure — counters, sets, chains, rule comments — matches, only set
 * elements are changed (one atomic batch, counters keep counting); otherwise the whole
 * table is replaced in one atomic batch, carrying the counter values over.
 */
import { tableText } from '../kernel/nft-text.js';
import { NFT_TABLE as TABLE, type NftCommand, type NftChainDef, type NftFamily, type NftTable } from '../kernel/nft.js';

export type NftTables = Map<NftFamily, NftTable>;

/** Everything but the elements and counter values. */
export function structure(t: NftTable): string {
  return JSON.stringify({
    counters: [...t.counters].sort(),
    sets: t.sets.map((s) => [s.name, s.type, Boolean(s.counter)]).sort(),
    chains: t.chains.map((c) => [c.name, c.hook ?? null, c.prio ?? null]).sort(),
    // rule order matters within a chain only (nft lists rules chain by chain)
    rules: [...new Set(t.rules.map((r) => r.chain))].sort().map((c) => [c, t.rules.filter((r) => r.chain === c).map((r) => r.comment)]),
  });
}

const ref = (t: NftTable) => ({ family: t.family, table: TABLE });

function elem(e: string): unknown {
  const parts = e.split(' . ');
  return parts.length > 1 ? { concat: parts } : e;
}

export function elementCommands(verb: 'add' | 'delete', t: NftTable, set: string, elems: string[]): NftCommand[] {
  return elems.length ? [{ [verb]: { element: { ...ref(t), name: set, elem: elems.map(elem) } } }] : [];
}

/** Full replacement: create-then-delete makes the delete safe when the table is missing. */
export function replaceCommands(t: NftTable, carry: NftTable['counterValues'] = {}): NftCommand[] {
  const table = { family: t.family, name: TABLE };
  const cmds: NftCommand[] = [{ add: { table } }, { delete: { table } }, { add: { table } }];
  for (const name of t.counters) cmds.push({ add: { counter: { ...ref(t), name, ...(carry[name] ?? {}) } } });
  for (const s of t.sets)
    cmds.push({ add: { set: { ...ref(t), name: s.name, type: s.type, ...(s.counter ? { stmt: [{ counter: null }] } : {}) } } });
  for (const c of t.chains) {
    const base = c.hook ? { type: 'filter', hook: c.hook, prio: c.prio ?? 0, policy: 'accept' } : {};
    cmds.push({ add: { chain: { ...ref(t), name: c.name, ...base } } });
  }
  // object literals, not spreads: this runs once per rule (10,000 in bench/policy.ts)
  const family = t.family;
  for (const r of t.rules) cmds.push({ add: { rule: { family, table: TABLE, chain: r.chain, comment: r.comment, expr: r.expr } } });
  for (const s of t.sets) cmds.push(...elementCommands('add', t, s.name, s.elems));
  return cmds;
}

export interface NftPlanOp {
  kind: 'nft.apply';
  family: NftFamily;
  mode: 'replace' | 'elements' | 'delete';
  commands: NftCommand[];
  /** the same batch as nft text when it has a faster form than nftText(commands) (a table replacement) */
  text?: () => string | undefined;
  /** applied when an element batch fails (e.g. the table changed under us); built only then */
  fallback?: () => NftCommand[];
  summary: string;
  reason: string;
}

/** Plans one table: undefined desired means the table must not exist. */
export function planTable(family: NftFamily, desired: NftTable | undefined, actual: NftTable | undefined): NftPlanOp | undefined {
  const name = `${family} ${TABLE}`;
  if (!desired) {
    if (!actual) return undefined;
    return {
      kind: 'nft.apply',
      family,
      mode: 'delete',
      commands: [{ delete: { table: { family, name: TABLE } } }],
      summary: `delete table ${name}`,
      reason: 'not in view',
    };
  }
  if (!actual || structure(actual) !== structure(desired)) {
    let commands: NftCommand[] | undefined;
    return {
      kind: 'nft.apply',
      family,
      mode: 'replace',
      // built when read: the executor applies the text and reads the JSON only if nft refuses it
      get commands() {
        return (commands ??= replaceCommands(desired, actual?.counterValues));
      },
      text: () => tableText(desired, actual?.counterValues),
      summary: `replace table ${name}`,
      reason: actual ? 'rules drifted' : 'missing',
    };
  }
  const cmds: NftCommand[] = [];
  const changes: string[] = [];
  for (const s of desired.sets) {
    const have = new Set(actual.sets.find((a) => a.name === s.name)?.elems ?? []);
    const want = new Set(s.elems);
    const del = [...have].filter((e) => !want.has(e));
    const add = s.elems.filter((e) => !have.has(e));
    cmds.push(...elementCommands('delete', desired, s.name, del), ...elementCommands('add', desired, s.name, add));
    if (del.length || add.length) changes.push(`${s.name} +${add.length} -${del.length}`);
  }
  if (!cmds.length) return undefined;
  return {
    kind: 'nft.apply',
    family,
    mode: 'elements',
    commands: cmds,
    // an audit that finds nothing to do (the common case) never builds the full batch
    fallback: () => replaceCommands(desired, actual.counterValues),
    summary: `update table ${name}: ${changes.join(', ')}`,
    reason: 'elements',
  };
}

export function planNft(desired: NftTables, actual: NftTables): NftPlanOp[] {
  const ops: NftPlanOp[] = [];
  for (const family of ['bridge', 'inet'] as const) {
    const op = planTable(family, desired.get(family), actual.get(family));
    if (op) ops.push(op);
  }
  return ops;
}

/** Parses `nft -j list table FAMILY freight` output (metainfo removed) back into the model. */
export function parseTable(family: NftFamily, objs: NftCommand[]): NftTable | undefined {
  if (!objs.some((o) => 'table' in o)) return undefined;
  const t: NftTable = { family, counters: [], sets: [], chains: [], rules: [], counterValues: {} };
  for (const o of objs) {
    if ('counter' in o) {
      const c = o.counter as { name: string; packets: number; bytes: number };
      t.counters.push(c.name);
      t.counterValues![c.name] = { packets: c.packets, bytes: c.bytes };
    } else if ('set' in o) {
      const s = o.set as { name: string; type: string | string[]; elem?: unknown[]; stmt?: Array<Record<string, unknown>> };
      const counter = (s.stmt ?? []).some((x) => 'counter' in x);
      t.sets.push({
        name: s.name,
        type: s.type,
        elems: (s.elem ?? []).map(canonical),
        ...(counter ? { counter, elemCounters: elemCounters(s.elem ?? []) } : {}),
      });
    } else if ('chain' in o) {
      const c = o.chain as { name: string; hook?: NftChainDef['hook']; prio?: number };
      t.chains.push({ name: c.name, ...(c.hook ? { hook: c.hook, prio: c.prio } : {}) });
    } else if ('rule' in o) {
      const r = o.rule as { chain: string; comment?: string; expr: unknown[] };
      t.rules.push({ chain: r.chain, comment: r.comment ?? '', expr: r.expr });
    }
  }
  return t;
}

function elemCounters(elems: unknown[]): Record<string, { packets: number; bytes: number }> {
  const out: Record<string, { packets: number; bytes: number }> = {};
  for (const e of elems) {
    const c = (e as { elem?: { counter?: { packets: number; bytes: number } } }).elem?.counter;
    if (c) out[canonical(e)] = { packets: Number(c.packets), bytes: Number(c.bytes) };
  }
  return out;
}

function canonical(e: unknown): string {
  if (typeof e === 'string' || typeof e === 'number') return String(e);
  const o = e as { concat?: unknown[]; elem?: { val: unknown } };
  if (o.concat) return o.concat.map(canonical).join(' . ');
  if (o.elem) return canonical(o.elem.val);
  return JSON.stringify(e);
}
