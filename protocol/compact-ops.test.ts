import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compactDeltaJson, compactOpJson, compactValueJson, decodeCompactOps, decodeMessage, packId, unpackId } from './compact-ops.js';
import { type ViewOp } from './view.js';

const ep = (over: Record<string, unknown> = {}) => ({
  id: 'b3c1f0a2-1d2e-4f5a-9b8c-7d6e5f4a3b2c',
  network: randomUUID(),
  kind: 'container' as const,
  owner: randomUUID(),
  name: 'web-1',
  mac: '02:ab:cd:ef:01:23',
  ip: '10.0.0.5',
  node: 'node-5',
  vtep: '198.18.0.5',
  ifindex: 0,
  ...over,
});
const encode = (op: ViewOp) =>
  compactOpJson(
    op,
    () => JSON.stringify(op.value),
    () => compactValueJson(op),
  );
const roundTrip = (ops: ViewOp[]) => decodeCompactOps(JSON.parse(`[${ops.map(encode).join(',')}]`));

describe('ops1', () => {
  it('round-trips UUIDs, including every nibble value, and keeps other ids as they are', () => {
    for (let i = 0; i < 200; i++) {
      const u = randomUUID();
      expect(packId(u)).toHaveLength(22);
      expect(unpackId(packId(u))).toBe(u);
    }
    expect(unpackId(packId('ffffffff-ffff-ffff-ffff-ffffffffffff'))).toBe('ffffffff-ffff-ffff-ffff-ffffffffffff');
    for (const s of ['infra-web', 'B3C1F0A2-1D2E-4F5A-9B8C-7D6E5F4A3B2C', '=x', '']) expect(unpackId(packId(s))).toBe(s);
  });

  it('decodes to exactly the plain ops, for endpoints, removals, other kinds and odd endpoints', () => {
    const e = ep();
    const ops: ViewOp[] = [
      { kind: 'endpoints', id: e.id, value: e },
      { kind: 'endpoints', id: e.id, value: ep({ kind: 'infra', mac: '02:AB:cd:ef:01:23', network: 'net-x' }) },
      { kind: 'endpoints', id: 'other-id', value: e },
      { kind: 'endpoints', id: e.id, value: ep({ plugged: true, groups: [randomUUID(), 'g-2'] }) },
      { kind: 'endpoints', id: e.id, value: ep({ plugged: false }) },
      { kind: 'endpoints', id: e.id, value: ep({ groups: [] }) },
      { kind: 'endpoints', id: e.id, value: ep({ extra: 1 }) },
      { kind: 'endpoints', id: e.id },
      { kind: 'keys', id: 'k1' },
    ];
    expect(roundTrip(ops)).toEqual(ops);
  });

  it('frames a delta as {d: [from, step], c} and decodes it to the plain message; other messages pass through', () => {
    const e = ep({ groups: [randomUUID()] });
    const op: ViewOp = { kind: 'endpoints', id: e.id, value: e };
    expect(decodeMessage(JSON.parse(compactDeltaJson(120_345, 120_346, [encode(op)])))).toEqual({
      type: 'delta',
      from: 120_345,
      revision: 120_346,
      ops: [op],
    });
    const ping = { type: 'ping', revision: 3, t: 1 };
    expect(decodeMessage(ping)).toBe(ping);
    expect(() => decodeMessage({ d: [-1, 1], c: [] })).toThrow(TypeError);
    expect(() => decodeMessage({ d: ['1', 1], c: [] })).toThrow(TypeError);
  });

  it('halves an endpoint delta', () => {
    const e = ep();
    const op: ViewOp = { kind: 'endpoints', id: e.id, value: e };
    const plain = `{"kind":"endpoints","id":"${e.id}","value":${JSON.stringify(e)}}`;
    expect(encode(op).length).toBeLessThan(plain.length * 0.55);
  });

  it('refuses malformed input with a TypeError, never anything else', () => {
    for (const bad of [
      {},
      [1],
      [['e']],
      [['e', 'short']],
      [['e', packId(randomUUID()), [1, 2]]],
      [['e', packId(randomUUID()), ['x', 0, 'y', 'n', 'zz', 'i', 'n', 'v', 0]]],
    ]) {
      expect(() => decodeCompactOps(bad)).toThrow(TypeError);
    }
  });
});
