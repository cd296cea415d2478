import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { metacopyEntries, rebaseUpper, unescapeOctal } from './upper-rebase.js';

// Real trusted.* xattrs on the machine's /tmp (root only, as the agent runs).
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function upperWith(files: Record<string, boolean>): string {
  const base = mkdtempSync(path.join(tmpdir(), 'freight-upper-'));
  dirs.push(base);
  const upper = path.join(base, 'upper');
  mkdirSync(path.join(upper, 'etc'), { recursive: true });
  for (const [name, meta] of Object.entries(files)) {
    const f = path.join(upper, name);
    writeFileSync(f, 'x');
    if (meta) execFileSync('setfattr', ['-n', 'trusted.overlay.metacopy', f]);
  }
  chownSync(upper, 1 << 16, 1 << 16);
  return upper;
}

describe('rebaseUpper', () => {
  it('reads back names with newlines, backslashes and non-UTF-8 bytes exactly', () => {
    expect(unescapeOctal(Buffer.from('/u/a\\012b')).toString()).toBe('/u/a\nb');
    expect(unescapeOctal(Buffer.from('/u/c\\134012d')).toString()).toBe('/u/c\\012d');
    expect(unescapeOctal(Buffer.from('/u/\\377')).equals(Buffer.from([0x2f, 0x75, 0x2f, 0xff]))).toBe(true);
  });

  it('lists only regular metacopy files inside the upper, whatever their names', async () => {
    const upper = upperWith({ 'etc/os-release': true, 'etc/a\nb': true, 'etc/c\\012d': true, 'etc/written': false });
    symlinkSync('/etc/passwd', path.join(upper, 'etc/link'));
    const names = (await metacopyEntries('t', upper)).map((b) => path.relative(upper, b.toString())).sort();
    expect(names).toEqual(['etc/a\nb', 'etc/c\\012d', 'etc/os-release']);
  });

  it('drops metacopy entries and hands the root back to 0:0 only when the layers change', async () => {
    const upper = upperWith({ 'etc/os-release': true, 'etc/written': false });
    await rebaseUpper('t', upper, ['/img/1']);
    await rebaseUpper('t', upper, ['/img/1']);
    expect(existsSync(path.join(upper, 'etc/os-release'))).toBe(true);
    expect(statSync(upper).uid).toBe(1 << 16);
    await rebaseUpper('t', upper, ['/img/2']);
    expect(existsSync(path.join(upper, 'etc/os-release'))).toBe(false);
    expect(existsSync(path.join(upper, 'etc/written'))).toBe(true);
    expect(statSync(upper).uid).toBe(0);
  });
});
