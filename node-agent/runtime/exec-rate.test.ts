import { describe, expect, it } from 'vitest';
import { RateGate } from './exec-rate.js';

describe('RateGate', () => {
  it('lets the burst through, then asks for a pause that pays the debt back at the rate', () => {
    let t = 0;
    const g = new RateGate(1000, 500, () => t);
    expect(g.take(500)).toBe(0);
    expect(g.take(250)).toBe(250); // 250 bytes in debt at 1000 B/s
    t += 250;
    expect(g.take(0)).toBe(0);
    t += 10_000; // credit never exceeds the burst
    expect(g.take(600)).toBe(100);
  });
});
