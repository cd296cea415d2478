import type { Logger } from 'pino';
import type { Db } from './store/db.js';
import { counterOf, gaugeOf, Registry } from '../lib/metrics.js';

/** One audit_log row: who (actor, source address), what (action, object, method, path), how it ended. */
export interface AuditEntry {
  at: Date;
  /** `admin:<token id>`, `tenant:<token id>`, `node:<name>`, or `anonymous` (no valid token). */
  actor: string;
  tenantId: string | null;
  method: string;
  path: string;
  status: number;
  /** The client's address (X-Forwarded-For only behind a trusted proxy); null when internal. */
  source?: string | null;
  /** The operation: `create network`, `revoke token`, `authenticate`, `stream connect`… */
  action?: string | null;
  /** What it acted on: `network acme/blue`, `token <id>`, `node n1`. */
  object?: string | null;
  /** Derived from status when omitted: < 400 success. */
  outcome?: 'success' | 'failure';
  /** The error code of a failure (`conflict`, `unauthenticated`), or a stream's close code. */
  code?: string | null;
  /** Events folded into this row (failed authentications); 1 otherwise. */
  count?: number;
}

/**
 * A failed authentication. Per source address (and code) at most one row per interval: the first
 * failure is written at once, the ones after it are counted and written as one row when the
 * interval ends (`count`), so a flood of guesses cannot flood the table.
 */
export interface AuthFailure {
  at: Date;
  source: string;
  method: string;
  path: string;
  status: number;
  code: string;
}

export type StreamEvent = 'connect' | 'disconnect' | 'refused';

export interface AuditLog {
  record(e: AuditEntry): void;
  authFailure(f: AuthFailure): void;
  /** An agent stream opened, closed (detail: the close code) or was refused. */
  stream(node: string, addr: string | undefined, event: StreamEvent, detail?: string): void;
  /** Writes what is buffered now; never throws. Failure counts wait for the end of their interval. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface AuditOptions {
  /** Write period (default 1 s). */
  everyMs?: number;
  /** Entries kept while the database is unavailable; beyond it new entries are dropped and counted (default 10,000). */
  maxBuffer?: number;
  /** At most one failed-authentication row per address per interval (default 60 s; 0: a row per failure). */
  authFailureEveryMs?: number;
  /** Addresses whose failures are being counted at once; the rest fold into one row with no source (default 10,000). */
  maxAuthSources?: number;
  now?: () => Date;
}

const BATCH = 1000;
const COLUMNS = ['at', 'actor', 'tenant_id', 'method', 'path', 'status', 'source', 'action', 'object', 'outcome', 'code', 'count'] as const;
const TYPES = ['timestamptz', 'text', 'uuid', 'text', 'text', 'int', 'text', 'text', 'text', 'text', 'text', 'int'];

function values(r: AuditEntry): unknown[] {
  return [
    r.at,
    r.actor,
    r.tenantId,
    r.method,
    r.path,
    r.status,
    r.source ?? null,
    r.action ?? null,
    r.object ?? null,
    r.outcome ?? (r.status < 400 ? 'success' : 'failure'),
    r.code ?? null,
    r.count ?? 1,
  ];
}

/**
 * Buffers entries and writes them in one INSERT per interval: one commit (and WAL flush) per
 * request would halve the create rate. A failed write keeps its rows at the head of the buffer
 * and is retried (backing off up to 30 s); the buffer is bounded, and what does not fit is
 * dropped and counted (freight_audit_dropped_total). A crash loses at most what is buffered.
 */
export function createAuditLog(db: Db, log: Logger, o: AuditOptions = {}, registry: Registry = new Registry()): AuditLog {
  const everyMs = o.everyMs ?? 1000;
  const maxBuffer = o.maxBuffer ?? 10_000;
  const authEveryMs = o.authFailureEveryMs ?? 60_000;
  const maxAuthSources = o.maxAuthSources ?? 10_000;
  const now = o.now ?? (() => new Date());
  const buffer: AuditEntry[] = [];
  // `${source} ${code}` → its interval: when it began, and the failures counted since (written at its end)
  const failures = new Map<string, { since: number; pending?: AuditEntry }>();
  const counters = { written: 0, dropped: 0, writeFailures: 0 };
  let writing: Promise<void> | undefined;
  counterOf(registry, 'freight_audit_written_total', 'Audit log entries written to the database.', () => counters.written);
  counterOf(
    registry,
    'freight_audit_dropped_total',
    'Audit log entries lost: the buffer was full while the database was unavailable, or at shutdown.',
    () => counters.dropped,
  );
  counterOf(
    registry,
    'freight_audit_write_failures_total',
    'Failed audit log writes (their entries are kept and retried).',
    () => counters.writeFailures,
  );
  gaugeOf(registry, 'freight_audit_buffered', 'Audit log entries waiting to be written.', () => buffer.length);
  let retryAt = 0;
  let backoff = everyMs;
  let closed = false;

  const push = (e: AuditEntry) => {
    if (buffer.length >= maxBuffer) {
      counters.dropped++;
      if (counters.dropped === 1 || counters.dropped % 1000 === 0)
        log.warn({ dropped: counters.dropped }, 'audit buffer full: entry dropped');
      return;
    }
    buffer.push(e);
  };
  /**
   * Ends the failed-authentication intervals that are over (all of them at shutdown): the
   * failures counted during one become one row and open the next interval; a quiet one is forgotten.
   */
  const foldFailures = (all: boolean) => {
    const t = now().getTime();
    for (const [key, w] of failures) {
      if (!all && t - w.since < authEveryMs) continue;
      if (w.pending) push(w.pending);
      if (all || !w.pending) failures.delete(key);
      else failures.set(key, { since: t });
    }
  };
  const insert = async (rows: AuditEntry[]) => {
    const vals = rows.map(values);
    const cols = COLUMNS.map((_, i) => vals.map((v) => v[i]));
    await db.query(
      `INSERT INTO audit_log (${COLUMNS.join(', ')}) SELECT * FROM unnest(${TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`,
      cols,
    );
  };
  /** Writes the buffer in batches; on failure the batch goes back to the front for a later retry. */
  const drain = async () => {
    while (buffer.length > 0) {
      const rows = buffer.splice(0, BATCH);
      try {
        await insert(rows);
        counters.written += rows.length;
        backoff = everyMs;
        retryAt = 0;
      } catch (err) {
        buffer.unshift(...rows);
        counters.writeFailures++;
        retryAt = Date.now() + backoff;
        log.warn({ err, buffered: buffer.length, retryInMs: backoff }, 'audit log write failed; kept for retry');
        backoff = Math.min(backoff * 2, 30_000);
        return;
      }
    }
  };
  const flush = (force = true): Promise<void> => {
    foldFailures(false);
    if (!force && Date.now() < retryAt) return writing ?? Promise.resolve();
    writing ??= drain().finally(() => (writing = undefined));
    return writing;
  };
  const timer = setInterval(() => void flush(false), everyMs);
  timer.unref();

  const record = (e: AuditEntry) => {
    if (closed) return void counters.dropped++;
    push(e);
    if (buffer.length >= BATCH && !writing && Date.now() >= retryAt) void flush(false);
  };

  return {
    record,
    authFailure(f) {
      // too many addresses at once (a spread-out flood): their failures share one row without source
      const own = `${f.source} ${f.code}`;
      const key = failures.has(own) || failures.size < maxAuthSources ? own : `* ${f.code}`;
      const row = (): AuditEntry => ({
        at: f.at,
        actor: 'anonymous',
        tenantId: null,
        method: f.method,
        path: f.path,
        status: f.status,
        source: key === own ? f.source : null,
        action: 'authenticate',
        object: null,
        outcome: 'failure',
        code: f.code,
        count: 1,
      });
      if (authEveryMs <= 0) return record(row()); // no folding: one row per failure
      const w = failures.get(key);
      // the first failure of an address is written at once; the next ones of its interval are counted
      if (!w) {
        failures.set(key, { since: f.at.getTime() });
        return record(row());
      }
      if (w.pending) w.pending.count = (w.pending.count ?? 1) + 1;
      else w.pending = row();
    },
    stream(node, addr, event, detail) {
      record({
        at: now(),
        actor: `node:${node}`,
        tenantId: null,
        method: 'GET',
        path: '/v1/agent/stream',
        status: event === 'refused' ? 401 : 101,
        source: addr ?? null,
        action: `stream ${event}`,
        object: `node ${node}`,
        outcome: event === 'refused' ? 'failure' : 'success',
        code: detail ?? null,
      });
    },
    flush: () => flush(true),
    async close() {
      clearInterval(timer);
      await writing;
      foldFailures(true);
      await flush(true);
      closed = true;
      if (buffer.length > 0) {
        counters.dropped += buffer.length;
        log.error({ dropped: buffer.length }, 'audit log: entries not written at shutdown');
        buffer.length = 0;
      }
    },
  };
}
