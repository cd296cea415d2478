import { describe, expect, it } from 'vitest';
import { encodeJoin } from '../protocol/join.js';
import { resolveTarget } from './target.js';

const FP = `sha256:${'0f'.repeat(32)}`;

describe('where the agent connects and whom it trusts', () => {
  it('a join string gives URL, token and pin', () => {
    expect(resolveTarget({ join: encodeJoin({ url: 'https://10.0.0.1:7400', token: 'frt_a', ca: FP }) })).toEqual({
      controller: 'https://10.0.0.1:7400', token: 'frt_a', trust: { kind: 'pin', fingerprint: FP },
    });
  });
  it('refuses http:// without --insecure (no silent ws://), and a join mixed with --controller', () => {
    expect(() => resolveTarget({ controller: 'http://10.0.0.1:7400', token: 't' })).toThrow(/is plaintext/);
    expect(resolveTarget({ controller: 'http://10.0.0.1:7400', token: 't', insecure: true }).trust).toEqual({ kind: 'insecure' });
    expect(() => resolveTarget({ join: encodeJoin({ url: 'https://a:1', token: 't' }), controller: 'https://b:1' })).toThrow(/alone/);
    expect(() => resolveTarget({})).toThrow(/--join STRING/);
  });
  it('https with --ca FILE, or the system CAs; --insecure never turns verification off', () => {
    expect(resolveTarget({ controller: 'https://c:7400', token: 't', ca: '/ca.pem' }, () => 'PEM').trust).toEqual({ kind: 'ca', pem: 'PEM' });
    expect(resolveTarget({ controller: 'https://c:7400', token: 't', insecure: true }).trust).toEqual({ kind: 'system' });
  });
});
