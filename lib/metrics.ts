/**
 * Prometheus metrics of every process, on prom-client. Each process instance (app, agent, infra
 * server) makes its own Registry and hands it to what it builds: no module-level (default
 * registry) state, so two instances in one test process never mix their numbers.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/** The exposition format's content type (text 0.0.4). */
export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Seconds, from 0.5 ms to 10 s: API answers, acks, netlink batches. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds, from 10 µs to 50 ms: a DNS or DHCP answer computed in the server. */
export const FAST_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/** A counter whose value its owner keeps (read at scrape time). */
export function counterOf(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      const v = read();
      if (v > 0) this.inc(v);
    },
  });
}

/** A gauge read at scrape time. */
export function gaugeOf(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** Seconds since `t0` (a performance.now() reading). */
export const since = (t0: number): number => (performance.now() - t0) / 1000;

/** Serves GET /metrics of `registry` on `listen` (HOST:PORT or a unix socket path); other paths 404. */
export function serveMetrics(registry: Registry, listen: { port: number; host: string } | { path: string }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = () => {
      server.off('error', reject);
      resolve(server);
    };
    if ('path' in listen) server.listen(listen.path, ready);
    else server.listen(listen.port, listen.host, ready);
  });
}
