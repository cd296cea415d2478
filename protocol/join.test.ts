import { describe, expect, it } from 'vitest';
import { decodeJoin, encodeJoin, normalizeFingerprint } from './join.js';

const FP = `sha256:${'a1'.repeat(32)}`;

describe('join string', () => {
  it('round-trips URL, token and CA pin', () => {
    const j = { url: 'https://198.18.0.254:7400', token: 'frt_x', ca: FP };
    const s = encodeJoin(j);
    expect(s).toMatch(/^frj1\.[A-Za-z0-9_-]+$/);
    expect(decodeJoin(s)).toEqual(j);
  });
  it('refuses what is not one, with a reason', () => {
    expect(() => decodeJoin('frt_token')).toThrow(/expected frj1/);
    expect(() => decodeJoin('frj1.@@@')).toThrow(/not decodable|join string/);
    expect(() => decodeJoin(`frj1.${Buffer.from(JSON.stringify({ url: 'ftp://x', token: 't' })).toString('base64url')}`)).toThrow(/url/);
    expect(() =>
      decodeJoin(`frj1.${Buffer.from(JSON.stringify({ url: 'https://x', token: 't', ca: 'md5:1' })).toString('base64url')}`),
    ).toThrow(/ca/);
  });
  it('reads fingerprints as openssl and node print them', () => {
    expect(normalizeFingerprint('A1:'.repeat(31) + 'A1')).toBe(FP);
    expect(normalizeFingerprint('a1'.repeat(32))).toBe(FP);
    expect(() => normalizeFingerprint('sha256:abc')).toThrow(/64 hex/);
  });
});
