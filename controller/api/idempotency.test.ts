import { describe, expect, it } from 'vitest';
import { idempotencyKeyOf, openAnswer, requestHash, sealAnswer } from './idempotency.js';

describe('Idempotency-Key helpers (pure)', () => {
  it('hashes method, path and body; JSON key order does not matter, values do', () => {
    const h = requestHash('POST', '/v1/tenants/a/networks', { name: 'x', cidr: '10.0.0.0/24', opts: { b: 1, a: [1, 2] } });
    expect(requestHash('POST', '/v1/tenants/a/networks', { opts: { a: [1, 2], b: 1 }, cidr: '10.0.0.0/24', name: 'x' })).toBe(h);
    expect(requestHash('POST', '/v1/tenants/a/networks', { name: 'x', cidr: '10.0.0.0/24', opts: { b: 1, a: [2, 1] } })).not.toBe(h);
    expect(requestHash('POST', '/v1/tenants/b/networks', { name: 'x', cidr: '10.0.0.0/24', opts: { b: 1, a: [1, 2] } })).not.toBe(h);
    expect(requestHash('POST', '/p', undefined)).not.toBe(requestHash('POST', '/p', {}));
  });

  it('seals an answer that only the same key and actor open; a changed byte fails', () => {
    const body = { token: 'frt_secret', id: 'x' };
    const sealed = sealAnswer('k'.repeat(16), 'actor-1', body);
    expect(sealed.includes(Buffer.from('frt_secret'))).toBe(false);
    expect(openAnswer('k'.repeat(16), 'actor-1', sealed)).toEqual(body);
    expect(() => openAnswer('k'.repeat(17), 'actor-1', sealed)).toThrow();
    expect(() => openAnswer('k'.repeat(16), 'actor-2', sealed)).toThrow();
    const bad = Buffer.from(sealed);
    bad[bad.length - 1] ^= 1;
    expect(() => openAnswer('k'.repeat(16), 'actor-1', bad)).toThrow();
  });

  it('accepts 16–255 printable ASCII characters, nothing else', () => {
    expect(idempotencyKeyOf({}, 'op')).toBeUndefined();
    expect(idempotencyKeyOf({ 'idempotency-key': '0b2c9f7e-1d2a-4c5b-9e8f-7a6b5c4d3e2f.1' }, 'op')).toBe(
      '0b2c9f7e-1d2a-4c5b-9e8f-7a6b5c4d3e2f.1',
    );
    for (const bad of ['short', 'x'.repeat(256), 'with space 0123456', 'ünïcødé-0123456789', ['a'.repeat(16), 'b'.repeat(16)]]) {
      expect(() => idempotencyKeyOf({ 'idempotency-key': bad }, 'op'), String(bad)).toThrow(/Idempotency-Key/);
    }
  });
});
