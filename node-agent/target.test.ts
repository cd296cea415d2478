import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeJoin } from '../protocol/join.js';
import { fingerprintOfPem } from '../protocol/tls-trust.js';
import { createCa, createServerCert } from '../controller/tls/certs.js';
import { PINNED_CA_FILE, resolvePin, resolveTarget } from './target.js';

const FP = `sha256:${'0f'.repeat(32)}`;

describe('where the agent connects and whom it trusts', () => {
  it('a join string gives URL, token and pin', () => {
    expect(resolveTarget({ join: encodeJoin({ url: 'https://10.0.0.1:7400', token: 'frt_a', ca: FP }) })).toEqual({
      controller: 'https://10.0.0.1:7400',
      controllers: ['https://10.0.0.1:7400'],
      token: 'frt_a',
      trust: { kind: 'pin', fingerprint: FP },
    });
  });
  it('refuses http:// without --insecure (no silent ws://), and a join mixed with --controller', () => {
    expect(() => resolveTarget({ controller: 'http://10.0.0.1:7400', token: 't' })).toThrow(/is plaintext/);
    expect(resolveTarget({ controller: 'http://10.0.0.1:7400', token: 't', insecure: true }).trust).toEqual({ kind: 'insecure' });
    expect(() => resolveTarget({ join: encodeJoin({ url: 'https://a:1', token: 't' }), controller: 'https://b:1' })).toThrow(/alone/);
    expect(() => resolveTarget({})).toThrow(/--join STRING/);
  });
  it('--controller lists replicas: each a URL, all https:// (or all http:// with --insecure), duplicates once', () => {
    const t = resolveTarget({
      controller: 'https://10.0.0.1:7400, https://10.0.0.2:7400,https://10.0.0.1:7400',
      token: 't',
      caFingerprint: FP,
    });
    expect([t.controller, t.controllers, t.trust]).toEqual([
      'https://10.0.0.1:7400',
      ['https://10.0.0.1:7400', 'https://10.0.0.2:7400'],
      { kind: 'pin', fingerprint: FP },
    ]);
    expect(() => resolveTarget({ controller: 'https://a:1,http://b:1', token: 't', insecure: true })).toThrow(/every URL https/);
    expect(() => resolveTarget({ controller: 'https://a:1,not a url', token: 't' })).toThrow(/not a URL/);
    expect(resolveTarget({ controller: 'http://a:1,http://b:1', token: 't', insecure: true }).controllers).toHaveLength(2);
  });
  it('https with --ca FILE, or the system CAs; --insecure never turns verification off', () => {
    expect(resolveTarget({ controller: 'https://c:7400', token: 't', ca: '/ca.pem' }, () => 'PEM').trust).toEqual({
      kind: 'ca',
      pem: 'PEM',
    });
    expect(resolveTarget({ controller: 'https://c:7400', token: 't', insecure: true }).trust).toEqual({ kind: 'system' });
  });
});

describe('the pinned CA across restarts', () => {
  it('uses the CA a previous run resolved for the same pin (controller away at boot), and resolves again for another pin', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'freight-pin-'));
    try {
      const ca = await createCa(new Date());
      writeFileSync(path.join(dir, PINNED_CA_FILE), ca.cert);
      const unreachable = 'https://127.0.0.1:1';
      const t = (fingerprint: string) => ({
        controller: unreachable,
        controllers: [unreachable],
        token: 't',
        trust: { kind: 'pin' as const, fingerprint },
      });
      expect(await resolvePin(t(fingerprintOfPem(ca.cert)), () => {}, dir)).toBe(ca.cert);
      const waits: string[] = [];
      const stop = () => Promise.reject(new Error('stopped waiting'));
      await expect(resolvePin(t(`sha256:${'1'.repeat(64)}`), (e) => waits.push(e.message), dir, stop)).rejects.toThrow('stopped waiting');
      expect(waits[0]).toMatch(/ECONNREFUSED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resolving the pin with replicas', () => {
  it('asks the replicas in turn: one that is down does not hold the start', async () => {
    const ca = await createCa(new Date());
    const cert = await createServerCert(ca, { ips: ['127.0.0.1'], dns: [] }, new Date());
    const server = tls.createServer({ cert: `${cert.cert}${ca.cert}`, key: cert.key }, (s) => s.end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const up = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
      const down = 'https://127.0.0.1:1';
      const target = {
        controller: down,
        controllers: [down, up],
        token: 't',
        trust: { kind: 'pin' as const, fingerprint: fingerprintOfPem(ca.cert) },
      };
      const waits: string[] = [];
      const pem = await resolvePin(
        target,
        (e) => waits.push(e.message),
        undefined,
        () => Promise.resolve(),
      );
      expect(fingerprintOfPem(pem!)).toBe(fingerprintOfPem(ca.cert));
      expect(waits).toHaveLength(1);
      expect(waits[0]).toMatch(/127\.0\.0\.1:1: ECONNREFUSED/);
    } finally {
      server.close();
    }
  });
});
