import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';
import { preparePgliteDir, releasePgliteDir, tightenPgliteDir } from './pglite-dir.js';
import { LOCKS, xactLock } from './locks.js';

/** What every store function needs: a query. Inside a transaction it is the transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** Runs a multi-statement script with no parameters (schema.sql). */
  script(sql: string): Promise<void>;
}

/** The controller's database: PostgreSQL in production, PGlite embedded by default. */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to NOTIFY on `channel`. `onReconnect` runs after the listener lost and regained the database. */
  listen(channel: string, onPayload: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export const SCHEMA_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schema.sql');

async function readSchema(): Promise<string> {
  // dist/controller/store → ../../schema.sql is dist/schema.sql; fall back to the package root
  try {
    return await readFile(SCHEMA_PATH, 'utf8');
  } catch {
    return readFile(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../schema.sql'), 'utf8');
  }
}

/** Applies schema.sql; idempotent. Returns the schema version now recorded. */
export async function migrate(db: Db): Promise<number> {
  const sql = await readSchema();
  await db.tx(async (q) => {
    // serialise concurrent migrations of several replicas
    await q.query(xactLock(LOCKS.MIGRATE));
    // index builds and backfills may take longer than an API statement may
    await q.query('SET LOCAL statement_timeout = 0');
    await q.script(sql);
  });
  const { rows } = await db.query<{ v: number }>('SELECT max(version) AS v FROM schema_version');
  return Number(rows[0]?.v ?? 0);
}

export interface OpenOptions {
  databaseUrl?: string;
  /** Data directory of the embedded database (PGlite); memory when omitted. */
  dataDir?: string;
  poolSize?: number;
  /** Bounds on every PostgreSQL connection (defaults: DB_TIMEOUTS). */
  timeouts?: Partial<DbTimeouts>;
}

/**
 * How long the controller waits for PostgreSQL. A database that accepts connections but stops
 * answering must turn into 503s within 5 s, not requests that hang for ever.
 */
export interface DbTimeouts {
  /** Server side: a statement running longer is cancelled (statement_timeout, SQLSTATE 57014). */
  statementMs: number;
  /** Client side: a query whose answer does not arrive in time fails and its connection is dropped (node-pg query_timeout). */
  queryMs: number;
  /** Waiting for a connection (pooled or new) gives up after this long without any answer from the database on any connection. */
  stallMs: number;
  /** Waiting for a pooled connection gives up after this long in any case (bursts queue here). */
  acquireMs: number;
  /** Server side: a session left idle inside a transaction is ended, releasing its locks. */
  idleInTxMs: number;
  /** TCP keepalive probes start after this much idle time (dead peers found on idle connections). */
  keepAliveMs: number;
}

export const DB_TIMEOUTS: DbTimeouts = {
  statementMs: 3500,
  queryMs: 4000,
  stallMs: 4000,
  acquireMs: 10_000,
  idleInTxMs: 15_000,
  keepAliveMs: 10_000,
};

/** Migrations may run long (index builds): the one query kind with its own bound. */
const SCRIPT_TIMEOUT_MS = 600_000;
const SET_LOCAL_TIMEOUT = /^\s*SET\s+LOCAL\s+statement_timeout\s*(?:=|TO)\s*'?(\d+)'?\s*;?\s*$/i;

/** The database did not answer in time (client side): the API maps it to 503 database_unavailable. */
export class DbTimeoutError extends Error {
  readonly code = 'database_timeout';
  constructor(what: string, ms: number) {
    super(`database did not answer ${what} within ${ms} ms`);
  }
}

/** No connection could be had (refused, rejected at startup, timed out): the API maps it to 503. */
export class DbConnectError extends Error {
  constructor(override readonly cause: unknown) {
    super(`database connection failed: ${String((cause as Error)?.message ?? cause)}`);
  }
}

export async function openDb(opts: OpenOptions): Promise<Db> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts.poolSize ?? 10, { ...DB_TIMEOUTS, ...opts.timeouts });
  return openPglite(opts.dataDir);
}

/** The session settings and socket options every connection of the controller gets. */
export function pgClientConfig(url: string, t: DbTimeouts): pg.ClientConfig {
  return {
    connectionString: url,
    application_name: 'freight-controller',
    statement_timeout: t.statementMs,
    query_timeout: t.queryMs,
    idle_in_transaction_session_timeout: t.idleInTxMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: t.keepAliveMs,
  };
}

/** True when the error came from the server (an SQL error): the connection itself is fine. */
function serverAnswered(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && !state.startsWith('08') && !['57P01', '57P02', '57P03'].includes(state);
}

/**
 * Tracks when the database last answered anything. A wait for a connection fails once nothing
 * has answered for `stallMs` since it began: a stalled server gives 503 quickly, while a burst
 * that queues behind a busy but answering server still waits up to the pool's acquire bound.
 */
export function liveness(stallMs: number, now = () => Date.now()) {
  let last = now();
  return {
    answered: () => void (last = now()),
    /** `p`'s value, or a DbTimeoutError after `stallMs` without answers; a value that comes too late goes to `late`. */
    wait<T>(p: Promise<T>, late: (v: T) => void): Promise<T> {
      const start = now();
      return new Promise<T>((resolve, reject) => {
        let settled = false;
        let timer: NodeJS.Timeout;
        const arm = () => {
          const due = Math.max(start, last) + stallMs - now();
          if (due <= 0) {
            settled = true;
            return reject(new DbTimeoutError('(waiting for a connection)', stallMs));
          }
          timer = setTimeout(arm, due);
        };
        arm();
        p.then(
          (v) => {
            clearTimeout(timer);
            if (settled) return late(v);
            settled = true;
            resolve(v);
          },
          (err) => {
            clearTimeout(timer);
            if (!settled) {
              settled = true;
              reject(err);
            }
          },
        );
      });
    },
  };
}

async function openPostgres(url: string, max: number, t: DbTimeouts): Promise<Db> {
  // acquireMs bounds the wait for a free pooled client: under a burst of requests that queue on
  // one network's row lock, 3 s turned healthy waits into 503s; the liveness check fails the
  // wait early when the database answers nothing at all
  const pool = new pg.Pool({ ...pgClientConfig(url, t), max, connectionTimeoutMillis: t.acquireMs });
  // an idle client that loses its server must not crash the process
  pool.on('error', () => {});
  // Unqualified names resolve in public only: the default path starts with "$user", and a role with
  // CREATE on the database could make a schema named after ours (or freight_api) and shadow our
  // tables. Queued before any query of the new client (the pool emits 'connect' before handing it out).
  pool.on('connect', (c) => void c.query('SET search_path = public').catch(() => {}));
  const alive = liveness(t.stallMs);
  const listeners: Array<{ stop(): Promise<void> }> = [];

  /**
   * A checked-out client. `broken` once its connection failed, timed out or emitted 'error';
   * `queryMs` the client-side bound of its next queries (a transaction may lift it, see below).
   */
  type State = { broken: boolean; queryMs: number };
  const withClient = async <T>(fn: (c: pg.PoolClient, state: State) => Promise<T>): Promise<T> => {
    const client = await alive
      .wait(pool.connect(), (late) => late.release())
      .catch((err) => {
        // e.g. "database is not currently accepting connections" (55000) or a refused login: unavailable, not a bad query
        throw err instanceof DbTimeoutError ? err : new DbConnectError(err);
      });
    // a server that goes away while the client is checked out emits 'error' on it: without a
    // listener that kills the process; the failed query rejects anyway
    const state: State = { broken: false, queryMs: t.queryMs };
    const onError = () => void (state.broken = true);
    client.on('error', onError);
    try {
      return await fn(client, state);
    } finally {
      client.off('error', onError);
      client.release(state.broken); // a broken connection is destroyed, not pooled
    }
  };
  const run = async (c: pg.PoolClient, state: State, query: pg.QueryConfig) => {
    try {
      const r = await c.query({ query_timeout: state.queryMs, ...query } as pg.QueryConfig);
      alive.answered();
      return r;
    } catch (err) {
      if (serverAnswered(err)) alive.answered();
      else state.broken = true;
      throw err;
    }
  };
  const on = (c: pg.PoolClient, state: State, inTx: boolean): Queryable => ({
    query: async (sql, params) => {
      const r = await run(c, state, { text: sql, values: params as unknown[] });
      // background work that needs longer statements says so for its transaction:
      // `SET LOCAL statement_timeout = N` (0 = none) lifts the client-side bound with it
      const lifted = inTx ? SET_LOCAL_TIMEOUT.exec(sql) : null;
      if (lifted) state.queryMs = Number(lifted[1]) === 0 ? SCRIPT_TIMEOUT_MS : Number(lifted[1]) + t.queryMs - t.statementMs;
      return r as never;
    },
    script: async (sql) => void (await run(c, state, { text: sql, query_timeout: SCRIPT_TIMEOUT_MS } as pg.QueryConfig)),
  });
  return {
    kind: 'postgres',
    query: (sql, params) => withClient((c, s) => on(c, s, false).query(sql, params)),
    script: (sql) => withClient((c, s) => on(c, s, false).script(sql)),
    tx(fn) {
      return withClient(async (client, state) => {
        const q = on(client, state, true);
        await q.query('BEGIN');
        try {
          const result = await fn(q);
          await q.query('COMMIT');
          return result;
        } catch (err) {
          // on a dead or stalled connection ROLLBACK would wait out another timeout: dropping
          // the connection rolls the transaction back on the server anyway
          if (!state.broken) await client.query('ROLLBACK').catch(() => void (state.broken = true));
          throw err;
        }
      });
    },
    async listen(channel, onPayload, onReconnect) {
      const l = pgListener(url, t, channel, onPayload, onReconnect);
      listeners.push(l);
      await l.ready;
      return () => l.stop();
    },
    async close() {
      await Promise.all(listeners.map((l) => l.stop()));
      await pool.end();
    },
  };
}

/**
 * A dedicated LISTEN connection that reconnects with backoff when the database goes away.
 * Exactly one reconnect is ever pending: a failed connect and the client's 'end' event
 * both ask for one, and asking twice must not double the attempts. A ping every few seconds
 * finds a connection whose server stopped answering (no TCP error, just silence) and replaces it.
 */
function pgListener(url: string, t: DbTimeouts, channel: string, onPayload: (p: string) => void, onReconnect?: () => void) {
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let connectedOnce = false;
  let delay = 250;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const retry = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
    delay = Math.min(delay * 2, 5000);
  };
  // destroying the socket (not end(), which waits for a silent server) emits 'end' → retry
  const drop = (c: pg.Client) => (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  const ping = setInterval(
    () => {
      const c = client;
      c?.query('SELECT 1').catch(() => drop(c));
    },
    Math.max(1000, t.queryMs * 2),
  );
  ping.unref();
  const connect = async () => {
    if (stopped) return;
    const c = new pg.Client({ ...pgClientConfig(url, t), connectionTimeoutMillis: Math.min(3000, t.queryMs) });
    c.on('error', () => {});
    c.on('notification', (n) => n.channel === channel && onPayload(n.payload ?? ''));
    c.on('end', () => {
      if (client === c) {
        client = undefined;
        retry();
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      client = c;
      delay = 250;
      if (connectedOnce) onReconnect?.();
      connectedOnce = true;
      resolveReady();
    } catch {
      drop(c);
      c.end().catch(() => {});
      if (!connectedOnce) resolveReady();
      retry();
    }
  };
  void connect();
  return {
    ready,
    async stop() {
      stopped = true;
      clearInterval(ping);
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

async function openPglite(dataDir?: string): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { btree_gist } = await import('@electric-sql/pglite/contrib/btree_gist');
  // PGlite creates the last directory only (./.freight/db failed with ENOENT on a fresh checkout);
  // modes: 0700/0600 checked before, clamped while open (controller/store/pglite-dir.ts)
  const onDisk = dataDir && !dataDir.includes('://') ? await preparePgliteDir(dataDir) : undefined;
  const db = new PGlite(dataDir ?? 'memory://', { extensions: { btree_gist } });
  await db.waitReady;
  if (onDisk) await tightenPgliteDir(onDisk);
  type Conn = Pick<typeof db, 'query' | 'exec'>;
  const wrap = (c: Conn): Queryable => ({
    query: async (sql, params) => ({ rows: (await c.query(sql, params as unknown[])).rows as never[] }),
    script: async (sql) => void (await c.exec(sql)),
  });
  return {
    kind: 'pglite',
    ...wrap(db),
    tx: (fn) => db.transaction((t) => fn(wrap(t))),
    async listen(channel, onPayload) {
      const unsub = await db.listen(channel, onPayload);
      return async () => unsub();
    },
    async close() {
      await db.close();
      if (onDisk) {
        await tightenPgliteDir(onDisk);
        releasePgliteDir(onDisk);
      }
    },
  };
}

/** PostgreSQL SQLSTATE of an error, if it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True when the error means the database cannot be reached (→ 503), not that the query was wrong. */
const UNAVAILABLE_MESSAGE = new RegExp(
  [
    'Connection terminated',
    'timeout exceeded when trying to connect',
    'Query read timeout',
    'Client has encountered a connection error',
    'not queryable',
    'Cannot use a pool after calling end',
  ].join('|'),
  'i',
);

export function isUnavailable(err: unknown): boolean {
  if (err instanceof DbConnectError || err instanceof DbTimeoutError) return true;
  const state = sqlState(err);
  // 57014: statement_timeout (or an operator's cancel): the database is too slow to answer now
  if (state && (state.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '57014'].includes(state))) return true;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'ENOENT'].includes(code)) return true;
  const msg = String((err as Error)?.message ?? '');
  return UNAVAILABLE_MESSAGE.test(msg);
}

/** True when the database was reached but did not answer in time (healthz: `database: "timeout"`). */
export function isTimeout(err: unknown): boolean {
  if (err instanceof DbConnectError) return isTimeout(err.cause);
  if (err instanceof DbTimeoutError || sqlState(err) === '57014') return true;
  return /Query read timeout|timeout exceeded when trying to connect|connection timeout/i.test(String((err as Error)?.message ?? ''));
}
