import { describe, expect, it } from 'vitest';
import { watchStalls } from './stall.js';

describe('watchStalls', () => {
  it('warns once the event loop was blocked past the threshold, and not while it runs freely', async () => {
    const seen: number[] = [];
    const stop = watchStalls({ warn: (o) => seen.push((o as { stalledMs: number }).stalledMs) }, 300, 20);
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).toEqual([]);
      const until = Date.now() + 500;
      while (Date.now() < until); // a synchronous block, as a stuck handler would make
      await new Promise((r) => setTimeout(r, 60));
      expect(seen.length).toBe(1);
      expect(seen[0]).toBeGreaterThanOrEqual(300);
    } finally {
      stop();
    }
  });
});
