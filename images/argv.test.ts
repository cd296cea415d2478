/**
 * Spawn audit (issue 13): strings that reach rpmbuild, rpmsign, gpg and ip are data, never
 * options, macros, shell or extra batch commands. Each check refuses before anything runs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { linksUp } from '../node-agent/kernel/netns.js';
import { buildImage } from './build.js';
import { Manifest } from './manifest.js';
import { signRpms } from './sign.js';
import { renderSpec } from './spec.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'fr-argv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const marker = path.join(tmp, 'marker');
const manifest = Manifest.parse({ name: 'web', version: '1' });

describe('tool arguments built from user strings', () => {
  it('renderSpec refuses a rootfs path that rpm would macro-expand or sh would interpolate', () => {
    for (const bad of [`/src/%(touch ${marker})`, `/src/$(touch ${marker})`, '/src/`id`', '/src/a"b', '/src/a\nb']) {
      expect(() => renderSpec({ manifest, rootfsDir: bad, manifestFile: '/tmp/m.json' }), bad).toThrow(/cannot go into an rpm spec/);
    }
    expect(renderSpec({ manifest, rootfsDir: '/src/ok dir', manifestFile: '/tmp/m.json' })).toContain('cp -a "/src/ok dir/."');
  });

  it('buildImage refuses an output directory rpm would macro-expand', async () => {
    await expect(buildImage({ manifest, from: tmp, outDir: path.join(tmp, `%(touch ${marker})`) })).rejects.toMatchObject({
      code: 'build_failed',
      message: expect.stringMatching(/output directory/),
    });
    expect(existsSync(marker)).toBe(false);
  });

  it('signRpms refuses a key id that is a macro or an option', async () => {
    for (const keyId of [`%(touch ${marker})`, '--delsign']) {
      await expect(signRpms([path.join(tmp, 'x.rpm')], { keyId, gnupgHome: tmp })).rejects.toMatchObject({
        code: 'sign_failed',
        message: expect.stringMatching(/key id/),
      });
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('linksUp refuses a link name or address that would add a line to the ip batch', async () => {
    await expect(linksUp('frc-test', ['eth0\nlink set dev lo down'])).rejects.toThrow(/not a valid interface or namespace name/);
    await expect(linksUp('frc-test', ['-f'])).rejects.toThrow(/not a valid interface/);
    await expect(linksUp('frc-test', ['eth0'], [{ dev: 'eth0', cidr: '10.0.0.2/24 dev lo' }])).rejects.toThrow(/not an address\/prefix/);
  });
});
