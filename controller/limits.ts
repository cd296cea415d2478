import type { Server } from 'node:http';
import { parseCidr } from '../protocol/addr.js';

/**
 * Bounds on the controller's HTTP server, so slow or idle clients cannot hold connections for
 * ever (slowloris) and a flood cannot exhaust file descriptors. Node checks the header and
 * request deadlines every `checkIntervalMs`, so a client is cut off at most that much later.
 */
export interface ServerLimits {
  /** Whole request head must arrive within this (Node headersTimeout). */
  headersTimeoutMs: number;
  /** Whole request, body included, must arrive within this (Node requestTimeout): 408 and close. */
  requestTimeoutMs: number;
  /** A socket with no traffic either way for this long is destroyed (Fastify connectionTimeout). */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (Node keepAliveTimeout). */
  keepAliveTimeoutMs: number;
  /** Concurrent connections (agent streams included); beyond it new ones are closed at once. */
  maxConnections: number;
  /** How often Node checks the header and request deadlines (connectionsCheckingInterval). */
  checkIntervalMs: number;
  /** /healthz answers 503 `database: "timeout"` when `SELECT 1` takes longer. */
  healthTimeoutMs: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 10_000,
  maxConnections: 4096,
  checkIntervalMs: 1000,
  healthTimeoutMs: 2000,
};

/** Fastify options that carry the limits (the rest is set on the server once it exists). */
export function fastifyLimitOptions(l: ServerLimits, https?: object) {
  const server = { headersTimeout: l.headersTimeoutMs, requestTimeout: l.requestTimeoutMs, connectionsCheckingInterval: l.checkIntervalMs };
  return {
    requestTimeout: l.requestTimeoutMs,
    connectionTimeout: l.idleTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    // https.createServer takes the http server options in the same object
    ...(https ? { https: { ...https, ...server } } : { http: server }),
  };
}

/** What Fastify has no option for. */
export function applyServerLimits(server: Server, l: ServerLimits): void {
  server.headersTimeout = l.headersTimeoutMs;
  server.maxConnections = l.maxConnections;
}

/** `10.0.0.1,10.1.0.0/16` → list; each entry an IPv4/IPv6 address or CIDR (no names: a typo must not trust everyone). */
export function parseTrustProxy(v: string): string[] {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const a of list) {
    if (!parseCidr(a)) throw new Error(`--trust-proxy ${a}: expected an IP address or CIDR`);
  }
  if (list.length === 0) throw new Error('--trust-proxy: expected at least one address');
  return list;
}
