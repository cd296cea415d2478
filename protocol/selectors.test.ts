import { describe, expect, it } from 'vitest';
import { parseSelector } from './selectors.js';

describe('label selectors', () => {
  it('parses the four kinds of term', () => {
    expect(parseSelector('tier=web, env!=prod,canary,!legacy,example.com/x==1')).toEqual([
      { op: '=', key: 'tier', value: 'web' },
      { op: '!=', key: 'env', value: 'prod' },
      { op: 'exists', key: 'canary' },
      { op: '!exists', key: 'legacy' },
      { op: '=', key: 'example.com/x', value: '1' },
    ]);
    expect(parseSelector('tier=')).toEqual([{ op: '=', key: 'tier', value: '' }]);
  });

  it('names the bad term', () => {
    expect(parseSelector('tier=web,')).toBe('(empty): expected KEY=VALUE, KEY!=VALUE, KEY or !KEY');
    expect(parseSelector('Tier Two=x')).toBe('Tier Two=x: Tier Two is not a label key (such as tier or example.com/tier)');
    expect(parseSelector('!tier=web')).toBe('!tier=web: ! goes with a key alone (!KEY)');
    expect(parseSelector('tier=a b')).toBe('tier=a b: a b is not a label value');
    expect(parseSelector(Array.from({ length: 17 }, (_, i) => `k${i}`).join(','))).toBe('at most 16 terms');
  });
});
