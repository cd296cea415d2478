import { describe, expect, it } from 'vitest';
import { watchStalls } from './stall.js';

const block = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until); // a synchronous block, as a stuck handler would make
};
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchStalls', () => {
  it('warns once the event loop was blocked past the threshold, not while it runs freely, and at most once per interval', async () => {
    const seen: Array<{ stalledMs: number; stalls: number; worstMs: number }> = [];
    const stop = watchStalls({ warn: (o) => seen.push(o as (typeof seen)[number]) }, { thresholdMs: 300, tickMs: 20, everyMs: 1500 });
    try {
      await tick(200);
      expect(seen).toEqual([]);
      block(500);
      await tick(60);
      expect(seen.length).toBe(1);
      expect(seen[0].stalledMs).toBeGreaterThanOrEqual(300);
      // two more stalls within the interval: counted, not logged
      block(400);
      await tick(60);
      block(600);
      await tick(60);
      expect(seen.length).toBe(1);
      await tick(1500);
      block(350);
      await tick(60);
      expect(seen.length).toBe(2);
      expect(seen[1]).toMatchObject({ stalls: 3 });
      expect(seen[1].worstMs).toBeGreaterThanOrEqual(550);
    } finally {
      stop();
    }
  });
});
