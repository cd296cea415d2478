/** Pure parts of updates by component (images/updates.ts), image GC planning, key ids, primary.xml components. */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { keyIdOf, sameKey } from '../../images/pgp-key.js';
import { PrimaryReader } from '../../images/repodata.js';
import type { IndexedImage } from '../../images/repo-client.js';
import { componentUpdates, imageWithNewer, newerCandidates, type Candidate } from '../../images/updates.js';
import { planImageGc, type InstalledVersion } from '../../node-agent/runtime/image-gc.js';
import { makeKey, stopAgents, tmpBase } from './support.js';

const haveGpg = (() => {
  try {
    execFileSync('gpg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const comp = (name: string, version: string, release = '1', arch = 'noarch') => ({ name, epoch: 0, version, release, arch, key: null });
const cand = (name: string, version: string, repoName = 'updates', arch = 'noarch'): Candidate => ({
  name,
  epoch: 0,
  version,
  release: '1',
  arch,
  href: `${name}-${version}.rpm`,
  checksum: { type: 'sha256', value: `${name}${version}` },
  repo: 'http://r/',
  repoName,
  publicKey: 'k',
});
const image = (version: string, components: Array<[string, string]>): IndexedImage => ({
  name: 'app',
  epoch: 0,
  version,
  release: '1',
  arch: 'x86_64',
  href: `app-${version}.rpm`,
  checksum: { type: 'sha256', value: version },
  repo: 'http://img/',
  components: components.map(([name, v]) => ({ name, epoch: 0, version: v, release: '1' })),
});

describe('newer candidates in rpm order', () => {
  it('keeps newer versions of the same name and a fitting arch, newest first', () => {
    const offered = [
      cand('alpha', '1.0'),
      cand('alpha', '1.10'),
      cand('alpha', '1.9'),
      cand('alpha', '2.0', 'u', 'x86_64'),
      cand('beta', '9'),
    ];
    expect(newerCandidates(comp('alpha', '1.2', '1', 'aarch64'), offered).map((c) => c.version)).toEqual(['1.10', '1.9']);
    expect(newerCandidates(comp('alpha', '1.0~rc1'), offered).map((c) => c.version)).toEqual(['2.0', '1.10', '1.9', '1.0']);
  });
  it('finds the oldest newer image version containing a newer component', () => {
    const images = [
      image('1', [['alpha', '1.0']]),
      image('3', [['alpha', '1.2']]),
      image('2', [['alpha', '1.1']]),
      image('2.5', [['alpha', '1.0']]),
    ];
    expect(imageWithNewer(comp('alpha', '1.0'), 'app:1', images)?.version).toBe('2');
    expect(imageWithNewer(comp('alpha', '1.2'), 'app:1', images)).toBeUndefined();
    expect(imageWithNewer(comp('alpha', '1.0'), undefined, images)).toBeUndefined();
  });
});

describe('componentUpdates', () => {
  it('chooses the newest trusted candidate, reports untrusted newer ones, notes the image', async () => {
    const u = await componentUpdates({
      installed: [comp('alpha', '1.0'), comp('beta', '1.0'), comp('gamma', '1.0')],
      packages: [cand('alpha', '1.2', 'mirror'), cand('alpha', '1.1'), cand('beta', '2.0', 'mirror')],
      images: [image('2', [['gamma', '1.5']])],
      image: 'app:1',
      repoNames: new Map([['http://img/', 'main']]),
      verify: async (c) => (c.repoName === 'mirror' ? { trusted: false, reason: 'signed by key abcd' } : { trusted: true }),
    });
    expect(u.map(({ candidate: _c, ...x }) => x)).toEqual([
      {
        name: 'alpha',
        arch: 'noarch',
        current: '1.0-1',
        newest: '1.2-1',
        repository: 'mirror',
        trusted: false,
        reason: 'signed by key abcd',
        image: null,
      },
      { name: 'alpha', arch: 'noarch', current: '1.0-1', newest: '1.1-1', repository: 'updates', trusted: true, image: null },
      {
        name: 'beta',
        arch: 'noarch',
        current: '1.0-1',
        newest: '2.0-1',
        repository: 'mirror',
        trusted: false,
        reason: 'signed by key abcd',
        image: null,
      },
      { name: 'gamma', arch: 'noarch', current: '1.0-1', newest: '1.5-1', repository: 'main', trusted: true, image: 'app:2' },
    ]);
  });
  it('checks at most maxChecks candidates; the rest are reported unchecked', async () => {
    let n = 0;
    const u = await componentUpdates({
      installed: [comp('a', '1'), comp('b', '1')],
      packages: [cand('a', '2'), cand('b', '2')],
      images: [],
      maxChecks: 1,
      verify: async () => (n++, { trusted: true }),
    });
    expect(n).toBe(1);
    expect(u.map((x) => [x.name, x.trusted])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });
});

describe('image GC plan', () => {
  const v = (key: string, base?: string): InstalledVersion => {
    const [tenant, rest] = key.split('/');
    const [name, version] = rest.split(':');
    return { key, tenant, name, version, release: '1', ...(base ? { base } : {}) };
  };
  const installed = [v('t/busybox:1'), v('t/app:1', 't/busybox:1'), v('t/app:2', 't/busybox:1'), v('t/old:1')];
  it('keeps what is used and its bases; removes the rest only after the grace period, derivatives first', () => {
    const first = planImageGc({ installed, used: new Set(['t/app:2']), unusedSince: new Map(), now: 1000, graceMs: 500 });
    expect(first.remove).toEqual([]);
    expect([...first.unusedSince]).toEqual([
      ['t/app:1', 1000],
      ['t/old:1', 1000],
    ]);
    const later = planImageGc({ installed, used: new Set(['t/app:2']), unusedSince: first.unusedSince, now: 1500, graceMs: 500 });
    expect(later.remove.map((i) => i.key)).toEqual(['t/app:1', 't/old:1']);
    const none = planImageGc({
      installed,
      used: new Set(),
      unusedSince: new Map(installed.map((i) => [i.key, 0])),
      now: 1500,
      graceMs: 500,
    });
    expect(none.remove.map((i) => i.key)).toEqual(['t/app:1', 't/app:2', 't/busybox:1', 't/old:1']);
  });
  it('forgets a version used again', () => {
    const p = planImageGc({
      installed,
      used: new Set(['t/app:1', 't/old:1', 't/app:2']),
      unusedSince: new Map([['t/app:1', 0]]),
      now: 9e9,
      graceMs: 1,
    });
    expect(p.remove).toEqual([]);
    expect(p.unusedSince.size).toBe(0);
  });
});

describe('OpenPGP key ids', () => {
  it('refuses what is not a public key block', () => {
    expect(() => keyIdOf('nope')).toThrow(/PGP PUBLIC KEY BLOCK/);
    expect(() => keyIdOf('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----')).toThrow();
  });
  it('compares ids by their common low digits', () => {
    expect(sameKey('75c6879a73b68f03', '73B68F03')).toBe(true);
    expect(sameKey('75c6879a73b68f03', '75c6879a73b68f04')).toBe(false);
    expect(sameKey('f03', '75c6879a73b68f03')).toBe(false);
  });
  it.skipIf(!haveGpg)('matches gpg’s key id for a freshly made key', async () => {
    const tmp = await tmpBase();
    try {
      const k = await makeKey(tmp, 'keyid@freight.invalid');
      const env = { ...process.env, GNUPGHOME: k.gnupgHome };
      const armored = execFileSync('gpg', ['--armor', '--export', k.keyId], { env, encoding: 'utf8' });
      const pub = execFileSync('gpg', ['--with-colons', '--list-keys', k.keyId], { env, encoding: 'utf8' });
      expect(keyIdOf(armored)).toBe(/^pub:[^:]*:[^:]*:[^:]*:([0-9A-F]{16}):/m.exec(pub)![1].toLowerCase());
    } finally {
      await stopAgents(tmp);
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('primary.xml: components and ordinary packages', () => {
  const xml = `<?xml version="1.0"?><metadata packages="3">
<package type="rpm"><name>freight-image-app</name><arch>x86_64</arch><version epoch="0" ver="2" rel="1"/>
<checksum type="sha256">aa</checksum><location href="app-2.rpm"/><format><rpm:provides>
<rpm:entry name="freight-image(app)" flags="EQ" epoch="0" ver="2"/>
<rpm:entry name="freight-component(alpha)" flags="EQ" epoch="0" ver="1.1" rel="1"/>
<rpm:entry name="freight-component(bad name)" flags="EQ" epoch="0" ver="1" rel="1"/>
<rpm:entry name="freight-component(beta)" flags="GE" epoch="0" ver="1" rel="1"/>
</rpm:provides></format></package>
<package type="rpm"><name>alpha</name><arch>noarch</arch><version epoch="0" ver="1.1" rel="1"/>
<checksum type="sha256">bb</checksum><location href="alpha-1.1-1.noarch.rpm"/><size package="100"/></package>
<package type="rpm"><name>other</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
<checksum type="sha256">cc</checksum><location href="other.rpm"/></package>
</metadata>`;
  it('reads an image’s components and keeps only the wanted ordinary packages', () => {
    const r = new PrimaryReader(new Set(['alpha']));
    r.write(xml);
    r.end();
    expect(r.images[0].components).toEqual([{ name: 'alpha', epoch: 0, version: '1.1', release: '1' }]);
    expect(r.packages).toEqual([
      {
        name: 'alpha',
        epoch: 0,
        version: '1.1',
        release: '1',
        arch: 'noarch',
        href: 'alpha-1.1-1.noarch.rpm',
        checksum: { type: 'sha256', value: 'bb' },
        size: 100,
      },
    ]);
    const plain = new PrimaryReader();
    plain.write(xml);
    plain.end();
    expect(plain.packages).toEqual([]);
  });
});
