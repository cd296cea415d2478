import { describe, expect, it } from 'vitest';
import { FAST_BUCKETS, Histogram, Registry } from '../lib/metrics.js';
import { AnswerHistogram } from './answer-histogram.js';

describe('AnswerHistogram', () => {
  it('exposes the same text as a prom-client Histogram given the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const a = new AnswerHistogram('x_seconds', 'help', FAST_BUCKETS, ours);
    const b = new Histogram({ name: 'x_seconds', help: 'help', buckets: FAST_BUCKETS, registers: [theirs] });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const v of [0, 0.00001, 0.00002, 0.0003, 0.04, 7]) {
      a.observe(v);
      b.observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
