import type { Registry } from '../lib/metrics.js';

export interface HistogramDelta {
  counts: number[];
  sum: number;
  count: number;
}

interface Sample {
  labels: { le?: number | string };
  value: number;
  metricName: string;
}

/**
 * A Prometheus histogram (no labels) with the cost of an array increment per observation:
 * prom-client's observe() builds label objects and a closure per call, which showed in a
 * DNS query's budget. Exposed through the registry like any metric (`_bucket`, `_sum`, `_count`).
 */
export class AnswerHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(bounds.length);
    // prom-client takes any object with name, help, type and get()
    registry.registerMetric(this as never);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const bucket = `${this.name}_bucket`;
    let acc = 0;
    const values: Sample[] = this.bounds.map((le, i) => ({
      labels: { le },
      value: (acc += this.counts[i]),
      metricName: bucket,
    }));
    values.push(
      { labels: { le: '+Inf' }, value: this.count, metricName: bucket },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` },
    );
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Observations since the last take (a worker process's share, for the primary's add). */
  take(): HistogramDelta {
    const d = { counts: [...this.counts], sum: this.sum, count: this.count };
    this.reset();
    return d;
  }

  add(d: HistogramDelta): void {
    if (d.counts.length !== this.counts.length) return;
    for (let i = 0; i < d.counts.length; i++) this.counts[i] += d.counts[i];
    this.sum += d.sum;
    this.count += d.count;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
