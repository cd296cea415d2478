import { describe, expect, it } from 'vitest';
import { BULK_ROWS, PACE, paceMs } from './pacing.js';

describe('fan-out pacing', () => {
  it('sends the change after a small one at once', () => {
    expect(paceMs({ rows: BULK_ROWS - 1, ms: 40 }, 250)).toBe(0);
  });
  it('after a bulk fan-out waits PACE times its time, at most the cap', () => {
    expect(paceMs({ rows: BULK_ROWS, ms: 10 }, 250)).toBe(PACE * 10);
    expect(paceMs({ rows: 500, ms: 100 }, 250)).toBe(250);
    expect(paceMs({ rows: 500, ms: 100 }, 0)).toBe(0);
  });
});
