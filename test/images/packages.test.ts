/**
 * An image's components as its own rpm database records them (images/packages.ts): read
 * from a real tree made by `rpm --root`, without following symlinks, with hostile records dropped.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImageError } from '../../images/errors.js';
import { parseQuery, readPackages } from '../../images/packages.js';
import { buildComponentRpm, haveTools, tmpBase } from './support.js';

const missing = haveTools();

describe('parseQuery: hostile records', () => {
  const rec = (...f: string[]) => f.join('\x1f') + '\x1e';
  it('keeps well-formed records, drops the rest and the keyring entries, sorts by name', () => {
    const out =
      rec('zlib', '(none)', '1.2', '3', 'x86_64', 'RSA/SHA256, Tue 01 Dec 2026, Key ID 0123456789ABCDEF') +
      rec('gpg-pubkey', '(none)', 'abcd', '1', '(none)', '') +
      rec('evil\nname', '(none)', '1', '1', 'noarch', '') +
      rec('a', '1x', '1', '1', 'noarch', '') +
      rec('b', '(none)', '1 2', '1', 'noarch', '') +
      rec('too', 'many', 'fields', '1', '1', '1', '1') +
      rec('bash', '2', '5.2', '15', 'x86_64', '(none)');
    expect(parseQuery(out, 100)).toEqual({
      packages: [
        { name: 'bash', epoch: 2, version: '5.2', release: '15', arch: 'x86_64', key: null },
        { name: 'zlib', epoch: 0, version: '1.2', release: '3', arch: 'x86_64', key: '0123456789abcdef' },
      ],
      invalid: 4,
      truncated: false,
    });
  });
  it('stops at the package cap and drops a cut last record', () => {
    const out = rec('a', '(none)', '1', '1', 'noarch', '') + rec('b', '(none)', '1', '1', 'noarch', '') + 'c\x1f(no';
    expect(parseQuery(out, 1)).toMatchObject({ packages: [{ name: 'a' }], truncated: true });
    expect(parseQuery(out, 10, true).packages.map((p) => p.name)).toEqual(['a', 'b']);
  });
});

describe.skipIf(missing)('readPackages on a real rpm --root tree', () => {
  let tmp: string;
  let tree: string;
  beforeAll(async () => {
    tmp = await tmpBase();
    tree = path.join(tmp, 'tree');
    const rpms = [await buildComponentRpm(tmp, 'alpha', '1.0'), await buildComponentRpm(tmp, 'beta', '2.1', '3')];
    await mkdir(tree);
    execFileSync('rpm', ['--root', tree, '--define', '_dbpath /var/lib/rpm', '-i', '--', ...rpms]);
  }, 60_000);
  afterAll(() => rm(tmp, { recursive: true, force: true }));

  it('lists name, version-release, arch and (absent) signature key', async () => {
    const r = await readPackages(tree, path.join(tmp, 'scratch'));
    expect(r).toEqual({
      packages: [
        { name: 'alpha', epoch: 0, version: '1.0', release: '1', arch: 'noarch', key: null },
        { name: 'beta', epoch: 0, version: '2.1', release: '3', arch: 'noarch', key: null },
      ],
      invalid: 0,
      truncated: false,
    });
  });

  it('a tree without a database has no packages', async () => {
    await mkdir(path.join(tmp, 'empty'));
    expect((await readPackages(path.join(tmp, 'empty'), path.join(tmp, 'scratch'))).packages).toEqual([]);
  });

  it('refuses a symlinked /var/lib/rpm or database file (never reads the node’s)', async () => {
    const bad = path.join(tmp, 'bad');
    await mkdir(path.join(bad, 'var', 'lib'), { recursive: true });
    await symlink('/var/lib/dpkg', path.join(bad, 'var', 'lib', 'rpm'));
    const e1 = await readPackages(bad, path.join(tmp, 'scratch')).catch((e: unknown) => e);
    expect(isImageError(e1, 'unsafe_package') && e1.message).toMatch(/symlink/);
    const bad2 = path.join(tmp, 'bad2');
    await mkdir(path.join(bad2, 'var', 'lib', 'rpm'), { recursive: true });
    await symlink('/etc/shadow', path.join(bad2, 'var', 'lib', 'rpm', 'rpmdb.sqlite'));
    const e2 = await readPackages(bad2, path.join(tmp, 'scratch')).catch((e: unknown) => e);
    expect(isImageError(e2, 'unsafe_package') && e2.message).toMatch(/symlink/);
  });

  it('refuses a database over the byte cap and cuts an output over its cap', async () => {
    const e = await readPackages(tree, path.join(tmp, 'scratch'), { dbBytes: 1000 }).catch((x: unknown) => x);
    expect(isImageError(e, 'unsafe_package') && e.message).toMatch(/larger than 1000 bytes/);
    const cut = await readPackages(tree, path.join(tmp, 'scratch'), { outputBytes: 30 });
    expect(cut.truncated).toBe(true);
    expect(cut.packages.length).toBeLessThan(2);
  });

  it('a garbage database is an error, not a crash', async () => {
    const junk = path.join(tmp, 'junk');
    await mkdir(path.join(junk, 'var', 'lib', 'rpm'), { recursive: true });
    await writeFile(path.join(junk, 'var', 'lib', 'rpm', 'rpmdb.sqlite'), 'not a database'.repeat(100));
    const r = await readPackages(junk, path.join(tmp, 'scratch')).catch((e: unknown) => e);
    expect(isImageError(r) || (r as { packages: unknown[] }).packages.length === 0).toBe(true);
  });
});
