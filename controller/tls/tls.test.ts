import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { covers, parseSubjectAltName, wantedSans } from './sans.js';
import { ensureOwnTls } from './index.js';

const IFACES = {
  lo: [{ address: '127.0.0.1', internal: true, family: 'IPv4' }],
  eth0: [
    { address: '192.0.2.7', internal: false, family: 'IPv4' },
    { address: 'fe80::1%eth0', internal: false, family: 'IPv6' },
  ],
};

describe('serving certificate names', () => {
  it('covers the listen address, loopback, and --tls-san entries; a wildcard listen covers every interface and the host name', () => {
    expect(wantedSans('198.18.0.254', ['ctl.example.internal,10.1.2.3'], IFACES, 'h1')).toEqual({
      ips: ['10.1.2.3', '127.0.0.1', '198.18.0.254', '::1'],
      dns: ['ctl.example.internal', 'localhost'],
    });
    expect(wantedSans('0.0.0.0', [], IFACES, 'H1')).toEqual({
      ips: ['127.0.0.1', '192.0.2.7', '::1', 'fe80::1'],
      dns: ['h1', 'localhost'],
    });
  });
  it('compares IPv6 in canonical form', () => {
    expect(covers(parseSubjectAltName('DNS:localhost, IP Address:0:0:0:0:0:0:0:1'), { ips: ['::1'], dns: ['localhost'] })).toBe(true);
    expect(covers(parseSubjectAltName('DNS:localhost'), { ips: ['10.0.0.1'], dns: [] })).toBe(false);
  });
});

describe('the controller CA in the state directory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'freight-ca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is made once; the serving certificate is re-issued under the same CA when a name is added', async () => {
    const a = await ensureOwnTls(dir, wantedSans('198.18.0.254', [], {}, 'x'));
    expect(a.created).toEqual(['ca', 'server']);
    const leaf = new X509Certificate(a.cert);
    const ca = new X509Certificate(a.caCert);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIP('198.18.0.254')).toBe('198.18.0.254');
    expect(ca.ca).toBe(true);
    expect(a.cert).toContain(a.caCert.trim()); // the chain presents the CA, which pins resolve from
    const same = await ensureOwnTls(dir, wantedSans('198.18.0.254', [], {}, 'x'));
    expect(same.created).toEqual([]);
    const more = await ensureOwnTls(dir, wantedSans('198.18.0.254', ['ctl.example.internal'], {}, 'x'));
    expect(more.created).toEqual(['server']);
    expect(more.fingerprint).toBe(a.fingerprint);
    expect(new X509Certificate(more.cert).checkHost('ctl.example.internal')).toBe('ctl.example.internal');
    expect(readFileSync(path.join(dir, 'tls', 'ca.crt'), 'utf8')).toBe(a.caCert);
  });
});
