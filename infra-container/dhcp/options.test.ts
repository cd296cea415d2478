import { describe, expect, it } from 'vitest';
import { decodeDomainSearch, encodeDomainSearch, encodeOptions, parseOptions } from './options.js';

describe('dhcp options', () => {
  it('encodes option 119 exactly as the RFC 3397 example', () => {
    // RFC 3397 §2: "eng.apple.com." and "marketing.apple.com."
    const expected = Buffer.concat([
      Buffer.from([3]),
      Buffer.from('eng'),
      Buffer.from([5]),
      Buffer.from('apple'),
      Buffer.from([3]),
      Buffer.from('com'),
      Buffer.from([0]),
      Buffer.from([9]),
      Buffer.from('marketing'),
      Buffer.from([0xc0, 0x04]),
    ]);
    const data = encodeDomainSearch(['eng.apple.com', 'marketing.apple.com']);
    expect(data).toEqual(expected);
    expect(data.length).toBe(27);
    expect(decodeDomainSearch(data)).toEqual(['eng.apple.com', 'marketing.apple.com']);
    const plain = encodeDomainSearch(['eng.apple.com', 'marketing.apple.com'], false);
    expect(plain.length).toBe(15 + 21);
    expect(decodeDomainSearch(plain)).toEqual(['eng.apple.com', 'marketing.apple.com']);
  });

  it('rejects a search list pointing forwards or outside the option', () => {
    expect(() => decodeDomainSearch(Buffer.from([1, 0x61, 0xc0, 0x10]))).toThrow();
    expect(() => decodeDomainSearch(Buffer.from([0xc0, 0x00]))).toThrow(/loop/);
  });

  it('splits long values into several instances and concatenates them back (RFC 3396)', () => {
    const long = Buffer.alloc(600, 7);
    const wire = encodeOptions([
      [119, long],
      [26, Buffer.from([5, 0xaa])],
    ]);
    expect(wire.length).toBe(600 + 3 * 2 + 4 + 1);
    const m = new Map<number, Buffer>();
    parseOptions(wire, 0, wire.length, m);
    expect(m.get(119)).toEqual(long);
    expect(m.get(26)).toEqual(Buffer.from([5, 0xaa]));
  });

  it('throws on a truncated option', () => {
    expect(() => parseOptions(Buffer.from([53, 5, 1]), 0, 3, new Map())).toThrow(/truncated value/);
    expect(() => parseOptions(Buffer.from([53]), 0, 1, new Map())).toThrow(/truncated length/);
  });
});
