import type { FastifyInstance } from 'fastify';
import type { AuditLog } from './audit.js';
import { auditObject } from './audit-object.js';
import type { RouteDef, AuthByRequest } from './api/route.js';

const AUTH_CODES = new Set(['unauthenticated', 'too_many_auth_failures']);

/**
 * Every POST, PATCH and DELETE under /v1/ becomes an audit row after the answer (who, from where, what,
 * which object, outcome). Failed authentications of any method are counted per address instead
 * (one row per address and interval), so a flood of guesses cannot flood the table. `codes`
 * holds the error code each failed request was answered with (set by the error handler).
 */
export function installAudit(
  app: FastifyInstance,
  routes: RouteDef[],
  audit: AuditLog,
  seen: AuthByRequest,
  codes: WeakMap<object, string>,
  now: () => Date,
): void {
  const creates = new Set(routes.filter((r) => r.status === 201).map((r) => `${r.method} ${r.url}`));
  const ops = new Map(routes.map((r) => [`${r.method} ${r.url}`, r.op]));
  const createdIds = new WeakMap<object, string>();
  // a created object without a name in its body (a token): its id, from the answer
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode === 201 && typeof payload === 'string' && typeof (req.body as { name?: unknown } | undefined)?.name !== 'string') {
      try {
        const id = (JSON.parse(payload) as { id?: unknown }).id;
        if (typeof id === 'string') createdIds.set(req, id.slice(0, 100));
      } catch {
        // not JSON: no id
      }
    }
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    if (!req.url.startsWith('/v1/')) return;
    const path = req.url.split('?')[0].slice(0, 500);
    const code = codes.get(req) ?? null;
    if (code && AUTH_CODES.has(code)) {
      return audit.authFailure({ at: now(), source: req.ip, method: req.method, path, status: reply.statusCode, code });
    }
    if (req.method !== 'POST' && req.method !== 'PATCH' && req.method !== 'DELETE') return;
    const who = seen.get(req);
    const key = `${req.method} ${req.routeOptions.url}`;
    const name = (req.body as { name?: unknown } | undefined)?.name;
    const created = creates.has(key) ? (typeof name === 'string' ? name.slice(0, 100) : createdIds.get(req)) : undefined;
    audit.record({
      at: now(),
      actor: who ? `${who.principal.kind}:${who.principal.tokenId}` : 'anonymous',
      tenantId: who?.tenantId ?? null,
      method: req.method,
      path,
      status: reply.statusCode,
      source: req.ip,
      action: ops.get(key) ?? null,
      object: auditObject(req.routeOptions.url, req.params as Record<string, string>, created),
      code,
    });
  });
}
