import { InvalidArgumentError } from 'commander';
import { stringify as toYaml } from 'yaml';
import type { Request } from './client.js';
import type { Follow } from './stream.js';
import type { Dial } from './transport.js';
import { table, type Cell } from './format.js';

/**
 * Output formats (`-o`), as kubectl names them: `table` (default), `wide` (more columns),
 * `json`, `yaml`, `name` (one TENANT/NAME per line, as the commands take them) and
 * `custom-columns=HEADER:.field,…`; `--columns a,b` picks a command's columns (or fields).
 */
export type Format =
  { kind: 'table' | 'wide' | 'json' | 'yaml' | 'name' } | { kind: 'custom'; columns: Array<{ header: string; path: string }> };

export const FORMATS = ['table', 'wide', 'json', 'yaml', 'name', 'custom-columns=HEADER:.field,…'];

/** Parses `-o VALUE` (commander argument parser: a bad value names the option). */
export function parseFormat(v: string): Format {
  if (v === 'table' || v === 'wide' || v === 'json' || v === 'yaml' || v === 'name') return { kind: v };
  const m = /^custom-columns=(.+)$/.exec(v);
  if (m) {
    const columns = m[1].split(',').map((spec) => {
      const c = /^([^:]+):(.+)$/.exec(spec);
      if (!c) throw new InvalidArgumentError(`custom-columns: expected HEADER:.field, got ${spec}`);
      return { header: c[1], path: c[2] };
    });
    return { kind: 'custom', columns };
  }
  throw new InvalidArgumentError(`expected one of ${FORMATS.join(', ')}`);
}

/** `--columns name,cidr` → the names asked for. */
export function parseColumns(v: string): string[] {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError('expected column names, e.g. name,cidr');
  return names;
}

/** What a command needs: the API, where to print, and the clock. */
export interface Io {
  req: Request;
  /** True for `-o json` / `--json` (kept for commands that stream JSON lines). */
  json: boolean;
  /** The output format (`-o`); table when absent. */
  format?: Format;
  /** `--columns`: the columns (or fields) to print, in order. */
  columns?: string[];
  write(text: string): void;
  now(): Date;
  /** The controller URL and the CA pin this run trusts (for join strings). */
  url?: string;
  caPin?: string;
  /** Follows a Server-Sent Events stream (freightctl events, --watch) with the run's token and trust. */
  follow?: (path: string, o: Omit<Parameters<Follow>[1], 'token'>) => Promise<void>;
  /** Diagnostics that are not the command's output (stderr). */
  writeErr?: (text: string) => void;
  /** A WebSocket to the controller with this run's trust and token (`container exec`). */
  dial?: (path: string) => ReturnType<Dial>;
}

/** One column of a list: its header, its cell, and whether only `-o wide` shows it. */
export interface Column<T = Record<string, unknown>> {
  header: string;
  get: (x: T) => Cell;
  wide?: boolean;
}

const kindOf = (io: Io) => io.format?.kind ?? (io.json ? 'json' : 'table');

/** How an object is named on the command line: TENANT/NAME, NAME, or its id. */
export function refOf(x: unknown): string {
  if (x === null || typeof x !== 'object') return String(x);
  const o = x as Record<string, unknown>;
  if (typeof o.name === 'string') return typeof o.tenant === 'string' ? `${o.tenant}/${o.name}` : o.name;
  for (const k of ['id', 'deleted', 'removed']) if (typeof o[k] === 'string') return o[k];
  return JSON.stringify(o);
}

/** The value at `.a.b[0].c` (or `a.b.0.c`) of an object. */
export function valueAt(x: unknown, path: string): unknown {
  const keys = path
    .replace(/^\./, '')
    .split(/\.|\[(\d+)\]/)
    .filter((k) => k !== undefined && k !== '');
  let v: unknown = x;
  for (const k of keys) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

const cellOf = (v: unknown): Cell => (v !== null && typeof v === 'object' ? JSON.stringify(v) : (v as Cell));
const headerOf = (path: string) => path.replace(/^\./, '').replace(/\W+/g, '_').toUpperCase();
const same = (a: string, b: string) => a.toLowerCase().replace(/[\s_-]+/g, '') === b.toLowerCase().replace(/[\s_-]+/g, '');

/** Columns of fields (`-o custom-columns`, or `--columns` where a command has no named columns). */
function fieldColumns(io: Io): Column[] | undefined {
  if (io.format?.kind === 'custom') return io.format.columns.map((c) => ({ header: c.header, get: (x) => cellOf(valueAt(x, c.path)) }));
  return io.columns?.map((f) => ({ header: headerOf(f), get: (x) => cellOf(valueAt(x, f)) }));
}

/** Machine formats and `-o name`; false when the command prints its own human form. */
function emitMachine(io: Io, data: unknown): boolean {
  const kind = kindOf(io);
  if (kind === 'json') io.write(JSON.stringify(data, null, 2) + '\n');
  else if (kind === 'yaml')
    io.write(toYaml(data, { version: '1.1' })); // quotes on, no, y…: YAML 1.1 readers agree
  else if (kind === 'name') io.write((Array.isArray(data) ? data : [data]).map((x) => `${refOf(x)}\n`).join(''));
  else return false;
  return true;
}

/** Prints one result: the machine formats, chosen fields, else the command's human form. */
export function emit(io: Io, data: unknown, human: () => string): void {
  if (emitMachine(io, data)) return;
  const cols = fieldColumns(io);
  if (cols) {
    const rows = (Array.isArray(data) ? data : [data]) as Array<Record<string, unknown>>;
    return io.write(
      table(
        cols.map((c) => c.header),
        rows.map((r) => cols.map((c) => c.get(r))),
      ),
    );
  }
  io.write(human());
}

/** Prints a list: its columns as a table (`-o wide`: every column; `--columns`: those named), or a machine format. */
export function emitList<T>(io: Io, items: T[], columns: Array<Column<T>>): void {
  if (emitMachine(io, items)) return;
  let cols: Array<Column<T>>;
  if (io.format?.kind === 'custom') cols = fieldColumns(io) as Array<Column<T>>;
  else if (io.columns) {
    // a command's column by its header (`--columns name,infra-node`), else a field of the objects
    cols = io.columns.map(
      (name) => columns.find((c) => same(c.header, name)) ?? { header: headerOf(name), get: (x: T) => cellOf(valueAt(x, name)) },
    );
  } else cols = kindOf(io) === 'wide' ? columns : columns.filter((c) => !c.wide);
  io.write(
    table(
      cols.map((c) => c.header),
      items.map((x) => cols.map((c) => c.get(x))),
    ),
  );
}
