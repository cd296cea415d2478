import type { Logger } from 'pino';
import type { Db } from './store/db.js';

/** One mutating API call, as the audit_log table keeps it. */
export interface AuditEntry {
  at: Date;
  /** `admin:<token id>`, `tenant:<token id>`, or `anonymous` (no valid token). */
  actor: string;
  tenantId: string | null;
  method: string;
  path: string;
  status: number;
}

export interface AuditLog {
  record(e: AuditEntry): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Buffers entries and writes them in one INSERT per interval: one commit (and WAL flush)
 * per request would halve the create rate. A crash loses at most one interval of entries.
 */
export function createAuditLog(db: Db, log: Logger, everyMs = 1000, maxBuffer = 1000): AuditLog {
  let buffer: AuditEntry[] = [];
  let flushing: Promise<void> = Promise.resolve();
  const write = async (rows: AuditEntry[]) => {
    await db.query(
      `INSERT INTO audit_log (at, actor, tenant_id, method, path, status)
       SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::int[])`,
      [rows.map((r) => r.at), rows.map((r) => r.actor), rows.map((r) => r.tenantId), rows.map((r) => r.method), rows.map((r) => r.path), rows.map((r) => r.status)],
    );
  };
  const flush = () => {
    const rows = buffer;
    buffer = [];
    if (rows.length === 0) return flushing;
    flushing = flushing.then(() => write(rows)).catch((err) => log.warn({ err, dropped: rows.length }, 'audit log write failed'));
    return flushing;
  };
  const timer = setInterval(() => void flush(), everyMs);
  timer.unref();
  return {
    record(e) {
      buffer.push(e);
      if (buffer.length >= maxBuffer) void flush();
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
