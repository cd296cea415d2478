/** Request counters for /metrics; one instance per app (no module-level state). */
export interface HttpMetrics {
  observe(method: string, route: string, status: number, seconds: number): void;
  render(): string;
}

export function createHttpMetrics(): HttpMetrics {
  const counts = new Map<string, number>();
  const sums = new Map<string, number>();
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return {
    observe(method, route, status, seconds) {
      const key = `method="${esc(method)}",route="${esc(route)}",status="${status}"`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      sums.set(key, (sums.get(key) ?? 0) + seconds);
    },
    render() {
      const lines = [
        '# HELP freight_http_requests_total API requests by method, route and status.',
        '# TYPE freight_http_requests_total counter',
        ...[...counts].map(([k, v]) => `freight_http_requests_total{${k}} ${v}`),
        '# HELP freight_http_request_seconds_sum Time spent answering API requests.',
        '# TYPE freight_http_request_seconds_sum counter',
        ...[...sums].map(([k, v]) => `freight_http_request_seconds_sum{${k}} ${v.toFixed(6)}`),
      ];
      return lines.join('\n') + '\n';
    },
  };
}
