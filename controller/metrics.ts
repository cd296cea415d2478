import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from '../lib/metrics.js';

/** Request counters and latency for /metrics, in the app's own registry. */
export interface HttpMetrics {
  observe(method: string, route: string, status: number, seconds: number): void;
}

export function createHttpMetrics(registry: Registry): HttpMetrics {
  const requests = new Counter({
    name: 'freight_http_requests_total',
    help: 'API requests by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  // status class, not status: fewer series per route
  const latency = new Histogram({
    name: 'freight_http_request_seconds',
    help: 'Time spent answering API requests, by method, route and status class.',
    labelNames: ['method', 'route', 'status_class'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    observe(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      latency.observe({ method, route, status_class: `${Math.floor(status / 100)}xx` }, seconds);
    },
  };
}
