import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import { decodeCursor, toPage, type Page } from './paging.js';

/**
 * One audit_log row as the API shows it: who (token kind and id, source address), what (action,
 * object, method, path), how it ended (status, outcome, error code), when; `count` > 1 for folded
 * failed authentications. Rows written before these columns existed show null (outcome from status).
 */
export interface AuditRecord {
  id: number;
  at: string;
  actor: string;
  tenant: string | null;
  method: string;
  path: string;
  status: number;
  source: string | null;
  action: string | null;
  object: string | null;
  outcome: 'success' | 'failure';
  code: string | null;
  count: number;
}
interface Row {
  id: string;
  at: Date | string;
  actor: string;
  tenant: string | null;
  method: string;
  path: string;
  status: number;
  source: string | null;
  action: string | null;
  object: string | null;
  outcome: 'success' | 'failure' | null;
  code: string | null;
  count: number;
}

/** Newest first; `after` continues below the last id of the previous page. */
export async function listAudit(q: Queryable, limit: number, after?: string): Promise<Page<AuditRecord>> {
  const cur = decodeCursor(after, 1);
  if (cur && !/^\d{1,18}$/.test(cur[0])) throw new ApiError('invalid', 'list audit: after is not a cursor returned by this API', 'after');
  const { rows } = await q.query<Row>(
    `SELECT a.id::text AS id, a.at, a.actor, t.name AS tenant, a.method, a.path, a.status,
            a.source, a.action, a.object, a.outcome, a.code, a.count
       FROM audit_log a LEFT JOIN tenants t ON t.id = a.tenant_id
      WHERE ($1::bigint IS NULL OR a.id < $1) ORDER BY a.id DESC LIMIT $2`,
    [cur?.[0] ?? null, limit + 1],
  );
  return toPage(
    rows,
    limit,
    (r) => [r.id],
    (r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      actor: r.actor,
      tenant: r.tenant,
      method: r.method,
      path: r.path,
      status: r.status,
      source: r.source,
      action: r.action,
      object: r.object,
      outcome: r.outcome ?? (r.status < 400 ? 'success' : 'failure'),
      code: r.code,
      count: r.count,
    }),
  );
}
