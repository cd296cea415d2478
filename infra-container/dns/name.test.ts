import { describe, expect, it } from 'vitest';
import { decodeName, encodeName, encodeNamesCompressed } from './name.js';

describe('dns names', () => {
  it('encodes and decodes a plain name', () => {
    const b = encodeName('web.net.t1.freight.internal');
    expect(b[0]).toBe(3);
    expect(b[b.length - 1]).toBe(0);
    expect(decodeName(b, 0)).toEqual({ name: 'web.net.t1.freight.internal', end: b.length });
    expect(encodeName('')).toEqual(Buffer.from([0]));
  });

  it('rejects labels over 63 bytes and names over 255', () => {
    expect(() => encodeName('a'.repeat(64) + '.com')).toThrow(/label length/);
    expect(() => encodeName(Array(60).fill('abcd').join('.'))).toThrow(/255/);
  });

  it('compresses repeated suffixes with backward pointers', () => {
    const b = encodeNamesCompressed(['a.example.com', 'b.example.com']);
    // a(2) example(8) com(4) 0(1) = 15, then b(2) + pointer(2)
    expect(b.length).toBe(19);
    expect(b.subarray(17)).toEqual(Buffer.from([0xc0, 2]));
    expect(decodeName(b, 15)).toEqual({ name: 'b.example.com', end: 19 });
  });

  it('follows pointers relative to a base', () => {
    const b = Buffer.concat([Buffer.from([9, 9]), encodeNamesCompressed(['x.y', 'z.y'])]);
    expect(decodeName(b, 2 + 5, 2).name).toBe('z.y');
  });

  it('rejects hostile pointers: self loop, forward pointer, out of range, truncated', () => {
    expect(() => decodeName(Buffer.from([0xc0, 0]), 0)).toThrow(/loop/);
    // label then pointer back to the label start: cycle caught by jump/length limits
    expect(() => decodeName(Buffer.from([1, 0x61, 0xc0, 0]), 0)).toThrow(/DNS|loop|255/i);
    expect(() => decodeName(Buffer.from([0xc0, 5, 0, 0, 0, 0, 0]), 0)).toThrow(/loop/);
    expect(() => decodeName(Buffer.from([0xc1, 0xff]), 0)).toThrow(/loop/);
    expect(() => decodeName(Buffer.from([0xc0]), 0)).toThrow(/truncated/);
    expect(() => decodeName(Buffer.from([5, 0x61]), 0)).toThrow(/truncated/);
    expect(() => decodeName(Buffer.from([0x40, 0]), 0)).toThrow(/reserved/);
    expect(() => decodeName(Buffer.from([1, 0x61]), 0)).toThrow(/out of range/);
  });
});
