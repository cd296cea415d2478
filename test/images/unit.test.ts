import { describe, expect, it } from 'vitest';
import { isImageError } from '../../images/errors.js';
import { judgeChecksig } from '../../images/keyring.js';
import { overlayOptions } from '../../images/layers.js';
import { Manifest } from '../../images/manifest.js';
import { parseImageRef } from '../../images/ref.js';
import { parsePrimary, parseRepomd } from '../../images/repodata.js';
import { outdated, resolveImage } from '../../images/resolve.js';
import { compareEvr, rpmvercmp } from '../../images/rpmvercmp.js';
import { renderSpec } from '../../images/spec.js';

describe('rpmvercmp', () => {
  it.each([
    ['1', '2', -1],
    ['10', '9', 1],
    ['1.10', '1.9', 1],
    ['1.0', '1.0', 0],
    ['1.0', '1.0.1', -1],
    ['1.01', '1.1', 0],
    ['1.0a', '1.0', 1],
    ['1.a', '1.1', -1], // numbers beat letters
    ['2.0~rc1', '2.0', -1], // tilde: pre-release sorts first
    ['2.0^git1', '2.0', 1], // caret: post-release snapshot
    ['2.0^git1', '2.0.1', -1],
    ['1_0', '1.0', 0],
  ])('%s vs %s → %i', (a, b, want) => {
    expect(Math.sign(rpmvercmp(a, b))).toBe(want);
    expect(Math.sign(rpmvercmp(b, a)) + 0).toBe(-want + 0);
  });
  it('epoch outranks version, release breaks ties', () => {
    expect(compareEvr({ epoch: 1, version: '1' }, { version: '9' })).toBe(1);
    expect(compareEvr({ version: '1', release: '2' }, { version: '1', release: '10' })).toBe(-1);
  });
});

describe('image references', () => {
  it('parses NAME and NAME:VERSION, refuses the rest with a code', () => {
    expect(parseImageRef('busybox')).toEqual({ name: 'busybox' });
    expect(parseImageRef('busybox:1.36.1')).toEqual({ name: 'busybox', version: '1.36.1' });
    for (const bad of ['BusyBox', 'a:b:c', 'x:1-2', '../etc', 'x:']) {
      let err: unknown;
      try {
        parseImageRef(bad);
      } catch (e) {
        err = e;
      }
      expect(isImageError(err, 'invalid_ref'), bad).toBe(true);
    }
  });
});

const primary = `<?xml version="1.0"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm"><name>freight-image-hello</name><arch>x86_64</arch><version epoch="0" ver="1.2" rel="1"/>
<checksum type="sha256" pkgid="YES">abc</checksum><location href="pkgs/freight-image-hello-1.2-1.x86_64.rpm"/>
<format><rpm:requires><rpm:entry name="freight-image(busybox)" flags="EQ" epoch="0" ver="1"/></rpm:requires></format></package>
<package type="rpm"><name>bash</name><arch>x86_64</arch><version epoch="0" ver="5" rel="1"/><checksum type="sha256">d</checksum><location href="bash.rpm"/></package>
<package type="rpm"><name>freight-image-busybox</name><arch>x86_64</arch><version epoch="2" ver="1" rel="3"/>
<checksum type="sha256">def</checksum><location href="a&amp;b.rpm"/></package>
</metadata>`;

describe('repository metadata', () => {
  it('finds primary in repomd.xml, skipping open-checksum', () => {
    const xml = `<repomd><data type="filelists"><checksum type="sha256">f</checksum><location href="repodata/f.xml.gz"/></data>
<data type="primary"><checksum type="sha256">p1</checksum><open-checksum type="sha256">p2</open-checksum><location href="repodata/p-primary.xml.gz"/></data></repomd>`;
    expect(parseRepomd(xml)).toEqual({ href: 'repodata/p-primary.xml.gz', checksum: { type: 'sha256', value: 'p1' } });
    expect(() => parseRepomd('<repomd/>')).toThrow(/no primary data/);
  });
  it('lists only image packages, with epoch, release, base and unescaped hrefs', () => {
    expect(parsePrimary(primary)).toEqual([
      {
        name: 'hello',
        epoch: 0,
        version: '1.2',
        release: '1',
        arch: 'x86_64',
        href: 'pkgs/freight-image-hello-1.2-1.x86_64.rpm',
        checksum: { type: 'sha256', value: 'abc' },
        base: { name: 'busybox', version: '1' },
      },
      {
        name: 'busybox',
        epoch: 2,
        version: '1',
        release: '3',
        arch: 'x86_64',
        href: 'a&b.rpm',
        checksum: { type: 'sha256', value: 'def' },
        base: undefined,
      },
    ]);
  });
});

describe('resolution and outdated', () => {
  const avail = [
    { name: 'busybox', version: '1.9' },
    { name: 'busybox', version: '1.10' },
    { name: 'busybox', version: '1.10', release: '2' },
    { name: 'busybox', version: '2.0~rc1' },
    { name: 'hello', version: '1' },
  ];
  it('takes the newest in rpm order (2.0~rc1 > 1.10 > 1.9), then the newest release', () => {
    expect(resolveImage('busybox', avail).version).toBe('2.0~rc1');
    expect(resolveImage('busybox:1.10', avail)).toEqual({ name: 'busybox', version: '1.10', release: '2' });
  });
  it('says which image or version is missing', () => {
    expect(() => resolveImage('nginx', avail)).toThrow(/resolve image nginx: no repository/);
    expect(() => resolveImage('hello:3', avail)).toThrow(/resolve image hello:3: no repository/);
  });
  it('lists only containers whose pinned version is older than the newest', () => {
    expect(
      outdated(
        [
          { container: 'a', image: 'busybox:1.9' },
          { container: 'b', image: 'busybox:2.0~rc1' },
          { container: 'c', image: 'hello:1' },
          { container: 'd', image: 'gone:1' },
        ],
        avail,
      ),
    ).toEqual([{ container: 'a', name: 'busybox', current: '1.9', newest: '2.0~rc1' }]);
  });
});

describe('rpmkeys --checksig verdicts', () => {
  const ok = `x.rpm:\n    Header V4 RSA/SHA512 Signature, key ID 89977df8: OK\n    Header SHA256 digest: OK\n    Payload SHA256 digest: OK\n`;
  it('accepts a good signature and names the key', () => {
    expect(judgeChecksig(ok, 0)).toEqual({ keyId: '89977df8' });
  });
  it('names each refusal', () => {
    expect(judgeChecksig(ok.replace(': OK\n    Header SHA256', ': NOKEY\n    Header SHA256'), 1)).toMatchObject({ code: 'unknown_key' });
    expect(judgeChecksig(ok.replace('Payload SHA256 digest: OK', 'Payload SHA256 digest: BAD (Expected a != b)'), 1)).toMatchObject({
      code: 'tampered',
      reason: 'content does not match its signed digests (Payload SHA256 digest: BAD)',
    });
    expect(judgeChecksig(ok.replace('key ID 89977df8: OK', 'key ID 89977df8: BAD'), 1)).toMatchObject({ code: 'bad_signature' });
    expect(judgeChecksig('x.rpm:\n    Header SHA256 digest: OK\n    Payload SHA256 digest: OK\n', 0)).toMatchObject({ code: 'unsigned' });
    expect(judgeChecksig(ok, 1)).toMatchObject({ code: 'bad_signature' });
  });
});

describe('spec and overlay options', () => {
  const m = Manifest.parse({ name: 'hello', version: '1.2', base: { name: 'busybox', version: '1' } });
  it('puts the tree under a per-version prefix and requires the exact base', () => {
    const spec = renderSpec({ manifest: m, rootfsDir: '/src dir', manifestFile: '/m.json' });
    expect(spec).toMatch(/^Name: freight-image-hello$/m);
    expect(spec).toMatch(/^Provides: freight-image\(hello\) = 1\.2$/m);
    expect(spec).toMatch(/^Requires: freight-image\(busybox\) = 1$/m);
    expect(spec).toContain('cp -a "/src dir/." "%{buildroot}/var/lib/freight/image-payload/hello/1.2/rootfs"');
    expect(spec).toMatch(/^\/var\/lib\/freight\/image-payload\/hello\/1\.2$/m);
  });
  it('escapes separators in overlay paths', () => {
    expect(overlayOptions(['/a', '/b:c'], '/u,1', '/w')).toBe('lowerdir=/a:/b\\:c,upperdir=/u\\,1,workdir=/w');
  });
});
