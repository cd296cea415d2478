import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { isUnavailable, type Db } from '../store/db.js';
import type { Sealer } from '../secrets/sealer.js';
import { createAuthLimiter, type AuthLimiter } from '../auth-limit.js';
import { bearerHash, nodeForToken } from './auth.js';
import { Hub, type PackagesAnswer, type SgStats } from './hub.js';
import type { InfraCounters } from '../../protocol/stream.js';
import { resolveOptions, type PushOptions } from './options.js';
import type { AuditLog } from '../audit.js';
import type { Registry } from '../../lib/metrics.js';

/** Heartbeat ticks per interval, each for its slice of the connections. */
const HEARTBEAT_SLICES = 10;

export type { PushOptions } from './options.js';
export { PushError } from './errors.js';
export type { ExecHandle, ExecRelaySink } from './exec.js';
import type { ExecHandle, ExecRelaySink } from './exec.js';
import type { ExecStart } from '../../protocol/exec.js';

/**
 * The controller's side of the agent stream: a WebSocket at /v1/agent/stream on
 * the API's HTTP server. Each replica LISTENs on freight_change and sends its own
 * connected agents the deltas (see docs/push.md).
 */
export interface PushHub {
  /** Asks the agent hosting a container for its output; rejects when the node is not connected. */
  requestLogs(node: string, containerId: string, tail: number): Promise<string>;
  /** Asks the agent hosting a container for the packages of its root (its rpm database). */
  requestPackages(node: string, containerId: string): Promise<PackagesAnswer>;
  /** Asks a node for the counters of these security group rules. */
  requestSgStats(node: string, rules: string[]): Promise<SgStats>;
  requestInfraCounters(node: string, containerId: string): Promise<InfraCounters>;
  /** Runs a command in a container on its node (the agent stream's exec messages); throws node_unavailable. */
  exec(node: string, containerId: string, req: ExecStart, sink: ExecRelaySink): ExecHandle;
  /** Prometheus text of the hub's registry. */
  metrics(): Promise<string>;
  close(): Promise<void>;
  /** Newest change-log revision this replica has pushed. */
  revision(): number;
  /** Nodes with a live stream on this replica. */
  connected(): string[];
  /** Reads the change log now (normally driven by NOTIFY). */
  catchUp(): Promise<void>;
  /** Applies the change-log retention now (normally on a timer). Returns the rows removed. */
  prune(): Promise<number>;
}

export interface PushContext {
  db: Db;
  log: Logger;
  /** Called when a node becomes ready, so pending containers get scheduled. */
  onNodeReady?: (node: string) => Promise<void>;
  options?: PushOptions;
  /** Audit hooks: stream connects, disconnects, refused upgrades. */
  audit?: Pick<AuditLog, 'stream' | 'authFailure'>;
  /**
   * Opens the sealed ipsec keys for the views. Used only when the server is TLS: a plaintext
   * server loads no key row at all, so its streams never carry key material (docs/push.md).
   */
  keys?: Sealer;
  /** Where the hub's metrics go (the app's registry; a private one when omitted). */
  registry?: Registry;
  /** Failed stream authentications count here (the API's limiter; a private one when omitted). */
  authLimit?: AuthLimiter;
  /**
   * Negotiate permessage-deflate with agents that offer it. Off: bench/propagation.ts --deflate
   * measured it (docs/push.md "Compression"), and the deltas are already compact.
   */
  perMessageDeflate?: boolean;
}

export const STREAM_PATH = '/v1/agent/stream';

export async function registerPush(app: FastifyInstance, ctx: PushContext): Promise<PushHub> {
  const opts = resolveOptions(ctx.options);
  const log = ctx.log.child({ module: 'push' });
  const secure = app.server instanceof tls.Server;
  if (secure && !ctx.keys) throw new Error('registerPush: a TLS controller needs the master key sealer to open ipsec keys');
  const hub = new Hub(ctx.db, log, opts, ctx.onNodeReady, secure ? ctx.keys : null, ctx.registry);
  if (!secure) log.warn('plaintext agent stream (--insecure): views carry no ipsec keys, ipsec networks pass no traffic');
  await hub.start();
  const unlisten = await ctx.db.listen(
    'freight_change',
    () => void hub.catchUp(),
    () => void hub.catchUp(),
  );
  // changes committed between the load and LISTEN
  await hub.catchUp();

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: ctx.perMessageDeflate ? { threshold: 64 } : false,
  });
  const limiter = ctx.authLimit ?? createAuthLimiter();
  const goodTokens = new RecentSet(10_000);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== STREAM_PATH) return; // not ours: another upgrade handler may want it
    socket.on('error', () => socket.destroy());
    // belt and braces: key material only ever leaves over TLS
    if (secure && !(socket as tls.TLSSocket).encrypted) return refuse(socket, 403, 'Forbidden');
    const addr = req.socket.remoteAddress;
    const source = addr ?? 'unknown';
    const hash = bearerHash(req.headers.authorization);
    // a source past the failure limit costs no query, unless it shows a token that worked here before
    const wait = limiter.blocked(source);
    if (wait > 0 && !(hash && goodTokens.has(hash))) {
      ctx.audit?.authFailure({ at: new Date(), source, method: 'GET', path: STREAM_PATH, status: 429, code: 'too_many_auth_failures' });
      return refuse(socket, 429, 'Too Many Requests', Math.ceil(wait / 1000));
    }
    nodeForToken(ctx.db, req.headers.authorization).then(
      (token) => {
        if (!token) {
          const status = limiter.fail(source) > 0 ? 429 : 401;
          ctx.audit?.authFailure({
            at: new Date(),
            source,
            method: 'GET',
            path: STREAM_PATH,
            status,
            code: status === 429 ? 'too_many_auth_failures' : 'unauthenticated',
          });
          return status === 429
            ? refuse(socket, 429, 'Too Many Requests', Math.ceil(limiter.blocked(source) / 1000))
            : refuse(socket, 401, 'Unauthorized');
        }
        goodTokens.add(token.hash);
        wss.handleUpgrade(req, socket, head, (ws) => {
          ctx.audit?.stream(token.node, addr, 'connect');
          ws.once('close', (code) => ctx.audit?.stream(token.node, addr, 'disconnect', String(code)));
          hub.attach(ws, token);
        });
      },
      (err) => refuse(socket, isUnavailable(err) ? 503 : 500, isUnavailable(err) ? 'Service Unavailable' : 'Internal Server Error'),
    );
  };
  app.server.on('upgrade', onUpgrade);

  let closing: Promise<void> | undefined;
  let ticks = 0;
  // one tick per slice, each connection once per interval (acks.ts)
  let slice = 0;
  // judged in the check phase, after the poll phase has read what the sockets hold: a tick that
  // fires late because this replica was busy (thousands of resumes) must not take the pings
  // waiting unread in its own sockets for silence, and drop those agents into a reconnect loop
  const beat = setInterval(() => {
    const s = slice++ % HEARTBEAT_SLICES;
    setImmediate(() => closing === undefined && hub.heartbeat(s, HEARTBEAT_SLICES)); // not after shutdown began
  }, opts.heartbeatMs / HEARTBEAT_SLICES);
  const flushEvery = Math.max(1, Math.round(opts.heartbeatMs / opts.flushMs));
  let flushing = false;
  const flush = setInterval(() => {
    if (flushing) return;
    flushing = true;
    // readiness is checked once per heartbeat interval, right after a successful write of last_seen
    // a rejection here would be unhandled and end the controller: log it, the next tick retries
    void hub
      .flush(++ticks % flushEvery === 0)
      .catch((err) => log.warn({ err }, 'push flush failed'))
      .finally(() => (flushing = false));
  }, opts.flushMs);
  const prune = setInterval(() => void hub.prune().catch((err) => log.warn({ err }, 'change-log prune failed')), opts.pruneEveryMs);
  // revocations arrive through the change log; this catches any the log could not deliver
  const recheck = setInterval(() => void hub.recheckTokens().catch(() => {}), opts.tokenCheckMs);
  const timers = [beat, flush, prune, recheck];
  for (const t of timers) t.unref();

  return {
    requestLogs: (node, containerId, tail) => hub.requestLogs(node, containerId, tail),
    requestPackages: (node, containerId) => hub.requestPackages(node, containerId),
    requestSgStats: (node, rules) => hub.requestSgStats(node, rules),
    requestInfraCounters: (node, containerId) => hub.requestInfraCounters(node, containerId),
    exec: (node, containerId, req, sink) => hub.exec(node, containerId, req, sink),
    metrics: () => hub.metrics(),
    revision: () => hub.cursor,
    connected: () => hub.connected(),
    catchUp: () => hub.catchUp(),
    prune: () => hub.prune(),
    close() {
      closing ??= shutdown();
      return closing;
    },
  };

  async function shutdown(): Promise<void> {
    for (const t of timers) clearInterval(t);
    app.server.off('upgrade', onUpgrade);
    await unlisten().catch(() => {});
    await hub.close();
    // last acks of this replica's agents (best effort: the database may be gone)
    await hub.flush(false);
    wss.close();
  }
}

function refuse(socket: Duplex, status: number, text: string, retryAfterS?: number): void {
  const retry = retryAfterS === undefined ? '' : `Retry-After: ${retryAfterS}\r\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${retry}Content-Length: 0\r\n\r\n`);
}

/** A bounded set, least recently added forgotten first. */
class RecentSet {
  private readonly items = new Set<string>();
  constructor(private readonly max: number) {}
  has(k: string): boolean {
    return this.items.has(k);
  }
  add(k: string): void {
    this.items.delete(k);
    this.items.add(k);
    if (this.items.size > this.max) this.items.delete(this.items.values().next().value!);
  }
}
