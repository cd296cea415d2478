/** Named counters of one server process (an instance, never module state). */
export class Counters {
  private readonly values = new Map<string, number>();

  inc(name: string, n = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n);
  }

  set(name: string, n: number): void {
    this.values.set(name, n);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Prometheus text exposition. */
  prometheus(prefix = 'freight_infra_'): string {
    return [...this.values].map(([k, v]) => `${prefix}${k.replace(/[^a-zA-Z0-9_]/g, '_')} ${v}`).join('\n') + '\n';
  }
}
