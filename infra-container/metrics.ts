import { counterOf, FAST_BUCKETS, gaugeOf, Registry } from '../lib/metrics.js';
import { AnswerHistogram, type HistogramDelta } from './answer-histogram.js';

export interface CountsDelta {
  values: Record<string, number>;
  dns: HistogramDelta;
}

const HELP: Record<string, string> = {
  dhcp_packets: 'DHCP packets received.',
  dns_packets: 'DNS messages received (UDP and TCP).',
  dhcp_leases_active: 'Leases handed out and not expired.',
  config_reloads: 'Config file reloads that compiled.',
};

/**
 * Named counters of one server process (an instance, never module state), kept for the SIGUSR1
 * log line and mirrored in a prom-client registry as `freight_infra_<name>`; plus the answer-time
 * histograms. Counter names appear on first use (outcomes and rcodes are open-ended).
 */
export class Counters {
  private readonly values = new Map<string, number>();
  private readonly drained = new Map<string, number>();
  private readonly answers: Record<'dns' | 'dhcp', AnswerHistogram>;

  constructor(
    readonly registry: Registry = new Registry(),
    private readonly prefix = 'freight_infra_',
  ) {
    const answer = (proto: 'dns' | 'dhcp', help: string) =>
      new AnswerHistogram(`${prefix}${proto}_answer_seconds`, help, FAST_BUCKETS, registry);
    this.answers = {
      dns: answer('dns', 'From a DNS query read to its answer (forwarded queries include the upstream).'),
      dhcp: answer('dhcp', 'From a DHCP packet read to its reply handed to the socket.'),
    };
  }

  inc(name: string, n = 1): void {
    // per packet only the map changes: prom-client reads it at scrape time (its inc() costs more than the packet's parse)
    const v = this.values.get(name);
    if (v === undefined) counterOf(this.registry, this.metricName(name), this.help(name), () => this.get(name));
    this.values.set(name, (v ?? 0) + n);
  }

  set(name: string, n: number): void {
    if (!this.values.has(name)) gaugeOf(this.registry, this.metricName(name), this.help(name), () => this.get(name));
    this.values.set(name, n);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** Seconds one answer took. */
  answered(proto: 'dns' | 'dhcp', seconds: number): void {
    this.answers[proto].observe(seconds);
  }

  /**
   * Counts and DNS answer times since the last drain: a DNS worker process sends these to the
   * primary, whose merge() adds them to the numbers it exposes.
   */
  drain(): CountsDelta {
    const values: Record<string, number> = {};
    for (const [name, v] of this.values) {
      const d = v - (this.drained.get(name) ?? 0);
      if (d !== 0) values[name] = d;
      this.drained.set(name, v);
    }
    return { values, dns: this.answers.dns.take() };
  }

  merge(d: CountsDelta): void {
    for (const [name, n] of Object.entries(d.values)) if (Number.isFinite(n) && n > 0) this.inc(name, n);
    this.answers.dns.add(d.dns);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Prometheus text exposition (prom-client). */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }

  private help(name: string): string {
    return HELP[name] ?? `freight-infra ${name}.`;
  }

  private metricName(name: string): string {
    return `${this.prefix}${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  }
}
