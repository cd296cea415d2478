/**
 * `freight-agent image import` (directory or tarball) against hostile trees (issue 13,
 * finding 5): device nodes and setuid/setgid files are refused with the file named, or
 * cleaned with --sanitize; a tarball cannot write through its own symlink out of the image.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { importImage } from '../../node-agent/runtime/images.js';

const root = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), 'frimp-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function tree(name: string): string {
  const dir = join(base, name);
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  mkdirSync(join(dir, 'dev'));
  writeFileSync(join(dir, 'usr/bin/tool'), '#!/bin/sh\n');
  return dir;
}

describe.skipIf(!root)('image import of hostile trees', () => {
  const state = join(base, 'state');

  it('refuses a directory with a setuid binary, naming it; nothing is left behind', async () => {
    const src = tree('suid');
    chmodSync(join(src, 'usr/bin/tool'), 0o4755);
    await expect(importImage(state, 'suid', src)).rejects.toMatchObject({
      code: 'image_invalid',
      message: expect.stringMatching(/\/usr\/bin\/tool \(setuid file\)/),
    });
    expect(readdirSync(join(state, 'images'))).toEqual([]);
  });

  it('refuses a tarball with a device node, naming it', async () => {
    const src = tree('dev');
    execFileSync('mknod', ['-m', '666', join(src, 'dev/sda'), 'b', '8', '0']);
    execFileSync('tar', ['-cf', join(base, 'dev.tar'), '-C', src, '.']);
    await expect(importImage(state, 'dev', join(base, 'dev.tar'))).rejects.toMatchObject({
      message: expect.stringMatching(/\/dev\/sda \(block device node\)/),
    });
    expect(readdirSync(join(state, 'images'))).toEqual([]);
    expect(statSync(join(state, 'images')).mode & 0o777).toBe(0o700);
  });

  it('--sanitize removes device nodes and clears setuid/setgid bits (OS trees from debootstrap)', async () => {
    const src = tree('os');
    execFileSync('mknod', ['-m', '666', join(src, 'dev/null'), 'c', '1', '3']);
    chmodSync(join(src, 'usr/bin/tool'), 0o6755);
    const dir = await importImage(state, 'os', src, { sanitize: true });
    expect(existsSync(join(dir, 'dev/null'))).toBe(false);
    expect(lstatSync(join(dir, 'usr/bin/tool')).mode & 0o7777).toBe(0o755);
  });

  it('a tarball cannot write through a symlink it created to outside the image', async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    const src = tree('esc');
    symlinkSync(outside, join(src, 'escape'));
    execFileSync('tar', ['-cf', join(base, 'esc.tar'), '-C', src, '.']);
    rmSync(join(src, 'escape'));
    mkdirSync(join(src, 'escape'));
    writeFileSync(join(src, 'escape/pwned'), 'x');
    execFileSync('tar', ['-rf', join(base, 'esc.tar'), '-C', src, './escape/pwned']);
    await expect(importImage(state, 'esc', join(base, 'esc.tar'))).rejects.toMatchObject({ code: 'image_invalid' });
    expect(readdirSync(outside)).toEqual([]);
  });

  it('image build refuses the same trees before anything is packaged or signed', async () => {
    const src = tree('build-suid');
    chmodSync(join(src, 'usr/bin/tool'), 0o4755);
    await expect(buildImage({ manifest: { name: 'x', version: '1' }, from: src, outDir: join(base, 'out') })).rejects.toMatchObject({
      code: 'build_failed',
      message: expect.stringMatching(/\/usr\/bin\/tool \(setuid file\).*nodes refuse/),
    });
    expect(readdirSync(join(base, 'out')).filter((f) => f.endsWith('.rpm'))).toEqual([]);
  });
});
