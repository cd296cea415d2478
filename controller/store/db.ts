import { chmod, mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';

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
    await q.query('SELECT pg_advisory_xact_lock(7405518)');
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
}

export async function openDb(opts: OpenOptions): Promise<Db> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts.poolSize ?? 10);
  return openPglite(opts.dataDir);
}

async function openPostgres(url: string, max: number): Promise<Db> {
  // the timeout also bounds the wait for a free pooled client: under a burst of requests that
  // queue on one network's row lock, 3 s turned healthy waits into 503s
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000 });
  // an idle client that loses its server must not crash the process
  pool.on('error', () => {});
  const listeners: Array<{ stop(): Promise<void> }> = [];
  return {
    kind: 'postgres',
    query: async (sql, params) => pool.query(sql, params as unknown[]) as never,
    script: async (sql) => void (await pool.query(sql)),
    async tx(fn) {
      const client = await pool.connect();
      // a server that goes away mid-transaction emits 'error' on the checked-out client:
      // without a listener that kills the process; the failed query rejects anyway
      let broken = false;
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await fn({
          query: async (sql, params) => client.query(sql, params as unknown[]) as never,
          script: async (sql) => void (await client.query(sql)),
        });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken); // a broken connection is destroyed, not pooled
      }
    },
    async listen(channel, onPayload, onReconnect) {
      const l = pgListener(url, channel, onPayload, onReconnect);
      listeners.push(l);
      await l.ready;
      return l.stop;
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
 * both ask for one, and asking twice must not double the attempts.
 */
function pgListener(url: string, channel: string, onPayload: (p: string) => void, onReconnect?: () => void) {
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
  const connect = async () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
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
  // PGlite creates the last directory only (./.freight/db failed with ENOENT on a fresh checkout)
  // 0700: the database holds token hashes and ipsec key material
  if (dataDir && !dataDir.includes('://')) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await chmod(dataDir, 0o700);
  }
  const db = new PGlite(dataDir ?? 'memory://', { extensions: { btree_gist } });
  await db.waitReady;
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
    close: () => db.close(),
  };
}

/** PostgreSQL SQLSTATE of an error, if it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True when the error means the database cannot be reached (→ 503), not that the query was wrong. */
export function isUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  if (state && (state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03' || state === '53300')) return true;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'ENOENT'].includes(code)) return true;
  const msg = String((err as Error)?.message ?? '');
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Cannot use a pool after calling end/i.test(msg);
}
