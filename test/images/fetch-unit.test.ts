/** Pure parts of repository fetching: the address policy, the XML reader's refusals and its speed. */
import { describe, expect, it } from 'vitest';
import { isImageError } from '../../images/errors.js';
import { addressAllowed, addressKind, parseCidr } from '../../images/net-policy.js';
import { parsePrimary, parseRepomd } from '../../images/repodata.js';
import { checkRevision } from '../../images/repo-client.js';

const none = { allowCidrs: [] };

describe('repository address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.169.254', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['fd12::1', 'private'],
    ['100.64.0.1', 'CGNAT'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['198.18.0.254', 'benchmark'],
    ['198.19.255.1', 'benchmark'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'cloud metadata'],
    ['64:ff9b::a00:1', 'private'],
  ])('refuses %s (%s) without an allow-list', (ip, kind) => {
    expect(addressAllowed(ip, none)).toBe(false);
    expect(addressKind(ip)).toBe(kind);
  });
  it('allows global addresses', () => {
    for (const ip of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111']) expect(addressAllowed(ip, none), ip).toBe(true);
  });
  it('lets the admin allow-list name ranges, mapped addresses included, and nothing more', () => {
    const p = { allowCidrs: ['127.0.0.1/32', '10.20.0.0/16', 'fd00:ec2::/32'] };
    expect(addressAllowed('127.0.0.1', p)).toBe(true);
    expect(addressAllowed('::ffff:127.0.0.1', p)).toBe(true);
    expect(addressAllowed('127.0.0.2', p)).toBe(false);
    expect(addressAllowed('10.20.5.5', p)).toBe(true);
    expect(addressAllowed('10.21.0.1', p)).toBe(false);
    expect(addressAllowed('fd00:ec2::254', p)).toBe(true);
    expect(addressAllowed('not-an-ip', p)).toBe(false);
  });
  it('refuses malformed allow-list entries', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '::/129', '1.2.3.4/x', ''])
      expect(() => parseCidr(bad), bad).toThrow(/allow-list entry/);
  });
});

const corrupt = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return isImageError(e, 'repo_corrupt') ? e.message : `wrong error: ${String(e)}`;
  }
  return 'no error';
};

describe('repository XML', () => {
  const M = 2 * 1024 * 1024;
  const hostile: Record<string, string> = {
    'nested unclosed tags': '<metadata>' + '<package><name>'.repeat(M / 15),
    'unclosed package blocks': '<metadata>' + '<package type="rpm"><name>freight-image-x</name>'.repeat(M / 48),
    'many attributes': '<metadata><package ' + 'a1="x" '.repeat(M / 7),
    'processing instructions': '<metadata><?x ' + '?'.repeat(M),
    CDATA: '<metadata><![CDATA[' + ']'.repeat(M),
    'DOCTYPE with entities': '<!DOCTYPE x [' + '<!ENTITY a "&#38;&#38;&#38;">'.repeat(M / 30) + ']><x>&a;</x>',
    'one long text': '<metadata>' + 'x'.repeat(M),
    'one long attribute': '<metadata><package name="' + 'x'.repeat(M),
  };
  it.each(Object.keys(hostile))('refuses 2 MB of %s in < 100 ms with repo_corrupt', (k) => {
    const t0 = performance.now();
    const msg = corrupt(() => parsePrimary(hostile[k]));
    const ms = performance.now() - t0;
    expect(msg).toMatch(/^read primary\.xml: not well-formed repository XML/);
    expect(ms).toBeLessThan(100);
  });
  it('parses the worst case left (2 MB of well-formed packages, the document never closed) in linear time', () => {
    // saxes' own speed bounds this one: 50–90 ms warm on the 2-core machine, up to ~230 ms in a loaded
    // vitest worker (docs/dependencies.md); the regex parser it replaces needed 0.6 s for 180 kB of unclosed tags
    const xml = '<metadata>' + '<package type="rpm"><name>bash</name><arch>x86_64</arch></package>'.repeat(M / 68);
    const t0 = performance.now();
    expect(corrupt(() => parsePrimary(xml))).toMatch(/unclosed tag: metadata/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
  it('turns bad character references and malformed XML into repo_corrupt, never a RangeError', () => {
    for (const xml of [
      '<metadata><package><name>&#99999999;</name></package></metadata>',
      '<metadata><package><name>&#x110000;</name></package></metadata>',
      '<metadata><package><name>&#0;</name></package></metadata>',
      '<metadata><package><name>&bogus;</name></package></metadata>',
      '<metadata><package></name></metadata>',
      '<metadata',
      '',
    ])
      expect(
        corrupt(() => parsePrimary(xml)),
        xml,
      ).toMatch(/^read primary\.xml: not well-formed/);
    expect(corrupt(() => parseRepomd('<repomd><revision>&#99999999;</revision></repomd>'))).toMatch(/^read repomd\.xml: not well-formed/);
  });
  it('reads revision, timestamp and size of the primary data', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1764582000</revision>
<data type="primary"><checksum type="sha256">p1</checksum><location href="repodata/p.xml.gz"/><timestamp>1764581999</timestamp><size>812</size><open-size>4000</open-size></data></repomd>`;
    expect(parseRepomd(xml)).toEqual({
      href: 'repodata/p.xml.gz',
      checksum: { type: 'sha256', value: 'p1' },
      revision: '1764582000',
      timestamp: 1764581999,
      size: 812,
    });
  });
});

describe('rollback rule', () => {
  it('refuses older or missing revision and timestamp once seen; equal or newer passes', () => {
    const seen = { revision: 100, timestamp: 90 };
    expect(() => checkRevision(seen, { revision: 100, timestamp: 90 }, 'x')).not.toThrow();
    expect(() => checkRevision(seen, { revision: 101, timestamp: 95 }, 'x')).not.toThrow();
    expect(() => checkRevision(undefined, {}, 'x')).not.toThrow();
    for (const now of [{ revision: 99, timestamp: 90 }, { revision: 100, timestamp: 89 }, { timestamp: 95 }]) {
      let err: unknown;
      try {
        checkRevision(seen, now, 'x');
      } catch (e) {
        err = e;
      }
      expect(isImageError(err, 'repo_rollback'), JSON.stringify(now)).toBe(true);
    }
  });
});
