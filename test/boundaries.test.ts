/**
 * The three processes meet only through protocol/ (and lib/, shared helpers of no process);
 * images/ is a library used through its own modules. Walks the import graph from each entry
 * point by parsing the .ts sources (type-only imports count: they couple the code all the same).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROCESSES = ['controller', 'node-agent', 'infra-container'] as const;
const SHARED = ['protocol', 'lib'];

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function importsOf(source: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of source.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec.startsWith('.')) out.push(spec);
  }
  return out;
}

function resolve(from: string, spec: string): string {
  const abs = path.resolve(path.dirname(from), spec);
  const ts = abs.replace(/\.js$/, '.ts');
  if (existsSync(ts)) return ts;
  if (existsSync(path.join(abs, 'index.ts'))) return path.join(abs, 'index.ts');
  throw new Error(`${path.relative(ROOT, from)}: cannot resolve ${spec}`);
}

/** Every module reached from `entry`, with the path that first reached it. */
function reach(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>([[entry, [entry]]]);
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const dep = resolve(file, spec);
      if (seen.has(dep)) continue;
      seen.set(dep, [...seen.get(file)!, dep]);
      todo.push(dep);
    }
  }
  return seen;
}

const top = (file: string) => path.relative(ROOT, file).split(path.sep)[0];

/** Modules of `reached` outside the folders `allowed`, each with its import chain. */
function leaks(reached: Map<string, string[]>, allowed: string[]): string[] {
  return [...reached]
    .filter(([file]) => !allowed.includes(top(file)))
    .map(([, chain]) => chain.map((f) => path.relative(ROOT, f)).join(' -> '));
}

describe('process boundaries', () => {
  it('parses import forms', () => {
    const src = `import a from './a.js';\nimport type { B } from "../b.js";\nexport { c } from './c.js';\nimport './d.js';\nconst e = await import('./e.js');\nimport x from 'zod';\n/* import z from './z.js' */`;
    expect(importsOf(src)).toEqual(['./a.js', '../b.js', './c.js', './d.js', './e.js']);
  });

  const allowed: Record<(typeof PROCESSES)[number], string[]> = {
    controller: ['controller', 'images', ...SHARED],
    'node-agent': ['node-agent', 'images', ...SHARED],
    'infra-container': ['infra-container', ...SHARED],
  };
  for (const proc of PROCESSES) {
    it(`${proc}/main.ts reaches no module of another process`, () => {
      const reached = reach(path.join(ROOT, proc, 'main.ts'));
      expect(reached.size).toBeGreaterThan(5);
      expect(leaks(reached, allowed[proc])).toEqual([]);
    });
  }

  it('the controller CLI stays inside the controller', () => {
    expect(leaks(reach(path.join(ROOT, 'controller/cli/main.ts')), allowed.controller)).toEqual([]);
  });

  it('no import circle (a circle makes load order matter)', () => {
    const circles = PROCESSES.flatMap((proc) => cycles(path.join(ROOT, proc, 'main.ts')));
    expect(circles).toEqual([]);
  });

  it('images/, protocol/ and lib/ import no process', () => {
    for (const lib of ['images', 'protocol', 'lib']) {
      for (const file of readdirTs(path.join(ROOT, lib))) {
        expect(leaks(reach(file), lib === 'images' ? ['images', ...SHARED] : SHARED)).toEqual([]);
      }
    }
  });
});

function readdirTs(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) return readdirTs(p);
    return n.endsWith('.ts') && !n.endsWith('.test.ts') && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** Import circles reachable from `entry` (depth-first search, each circle reported once per back edge). */
function cycles(entry: string): string[] {
  const out: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const dep = resolve(file, spec);
      if (state.get(dep) === 'open') out.push([...stack.slice(stack.indexOf(dep)), dep].map((f) => path.relative(ROOT, f)).join(' -> '));
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 'done');
  };
  visit(entry);
  return out;
}
