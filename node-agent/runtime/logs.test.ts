import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lastRunOutput, rotateLog, tailLog } from './logs.js';
import { containerPaths } from './paths.js';

const dirs: string[] = [];
function paths() {
  const state = mkdtempSync(join(tmpdir(), 'frlog-'));
  dirs.push(state);
  const p = containerPaths(state, 'c1');
  mkdirSync(p.dir, { recursive: true });
  return p;
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('container logs', () => {
  it('tails the last lines across the rotated file, and rotation caps the size', () => {
    const p = paths();
    for (let i = 0; i < 100; i++) appendFileSync(p.log, `line ${i}\n`);
    expect(rotateLog(p, 10_000)).toBe(false);
    expect(rotateLog(p, 500)).toBe(true);
    expect(readFileSync(p.log, 'utf8')).toBe('');
    appendFileSync(p.log, 'line 100\n');
    expect(tailLog(p, 3)).toBe('line 98\nline 99\nline 100\n');
  });
  it('gives the output of the last run only', () => {
    const p = paths();
    writeFileSync(p.log, '--- freight: start a\nold\n--- freight: exit 1\n--- freight: start b\nnew\n');
    expect(lastRunOutput(p)).toBe('new\n');
  });
});
