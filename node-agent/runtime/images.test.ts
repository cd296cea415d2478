import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureInfraImage, imageExists, importImage, listImages } from './images.js';

const base = mkdtempSync(join(tmpdir(), 'frimg-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function tree(dir: string, marker: string): string {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'usr/bin/marker'), marker);
  return dir;
}

describe('images', () => {
  const state = join(base, 'state');

  it('imports a directory and a tarball; a re-import replaces the image', async () => {
    await importImage(state, 'one', tree(join(base, 'src1'), 'v1'));
    expect(readFileSync(join(state, 'images/one/usr/bin/marker'), 'utf8')).toBe('v1');
    tree(join(base, 'src2'), 'v2');
    execFileSync('tar', ['-czf', join(base, 'two.tar.gz'), '-C', join(base, 'src2'), '.']);
    await importImage(state, 'one', join(base, 'two.tar.gz'));
    expect(readFileSync(join(state, 'images/one/usr/bin/marker'), 'utf8')).toBe('v2');
    expect(imageExists(state, 'one')).toBe(true);
    expect(await listImages(state)).toEqual(['one']); // no temporary or old trees left visible
    expect(readdirSync(join(state, 'images'))).toEqual(['one']);
  });

  it('refuses bad names, missing sources and trees without /usr, leaving nothing behind', async () => {
    await expect(importImage(state, '../x', base)).rejects.toMatchObject({ code: 'image_name_invalid' });
    await expect(importImage(state, 'x', join(base, 'nope'))).rejects.toMatchObject({ code: 'image_not_found' });
    mkdirSync(join(base, 'empty'));
    await expect(importImage(state, 'x', join(base, 'empty'))).rejects.toMatchObject({ code: 'image_invalid' });
    expect(readdirSync(join(state, 'images'))).toEqual(['one']);
    expect(imageExists(state, 'x')).toBe(false);
  });

  it("creates the freight-infra skeleton once, mirroring the host's merged-/usr links", async () => {
    const dir = await ensureInfraImage(state);
    expect(existsSync(join(dir, 'usr'))).toBe(true);
    expect(existsSync(join(dir, 'etc/freight'))).toBe(true);
    if (lstatSync('/bin').isSymbolicLink()) expect(lstatSync(join(dir, 'bin')).isSymbolicLink()).toBe(true);
    expect(await ensureInfraImage(state)).toBe(dir);
  });
});
