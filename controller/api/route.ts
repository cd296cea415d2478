import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type z } from 'zod';
import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { Batcher } from '../store/batch.js';
import { authenticateFor, requireAdmin, type Principal, type ScopedTenant } from '../auth.js';
import type { AuthLimiter } from '../auth-limit.js';
import type { AuditLog } from '../audit.js';
import type { PushHub } from '../push/index.js';
import type { ResolveDeps } from '../images/resolve.js';
import { ApiError, fromZod, toApiError, type ErrorCode } from '../errors.js';
import { idempotencyKeyOf, requestHash, type Answer, type Idempotency } from './idempotency.js';
import { ALL_TENANTS, scopedDb, type Scope } from '../store/scope.js';
import { retryThenApiError } from './retry-map.js';
import type { EventHub } from '../events/hub.js';

/** What every handler may use: injected, never module-level. */
export interface Deps {
  /** In a handler: the request's row-level security scope (freight_api, its tenant or '*'). */
  db: Db;
  log: Logger;
  push: Pick<PushHub, 'requestLogs' | 'requestPackages' | 'metrics' | 'close'> &
    Partial<Pick<PushHub, 'requestSgStats' | 'requestInfraCounters'>>;
  now: () => Date;
  /** Group commit for container creates. */
  batch: Batcher;
  /** Repeated authentication failures per source address → 429. */
  authLimit: AuthLimiter;
  audit: AuditLog;
  /** Repository fetch settings: allow-list, timeout, caps (controller/images/resolve.ts). */
  images: ResolveDeps;
  /** Idempotency-Key answers (owner connection). */
  idempotency: Idempotency;
  /** The events stream's hub (GET /v1/events); absent when the app runs without it. */
  events?: EventHub;
}

export interface Ctx<B, Q> {
  principal: Principal;
  /**
   * The tenant named by `:tenant`, looked up with the token; a missing or invisible one has
   * already answered 404 tenant_not_found. Routes without `:tenant` must not read it (null).
   */
  tenant: ScopedTenant;
  /** The operation with its object, for messages: `create network acme/blue` (`op` + `target`). */
  op: string;
  params: Record<string, string>;
  body: B;
  query: Q;
  deps: Deps;
  reply: FastifyReply;
}

/** A route, declared once: fastify registers it, /openapi.json documents it. */
export interface RouteDef<B = unknown, Q = unknown> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  /** `any` = admin or tenant token; node tokens are for the agent stream only. */
  auth: 'admin' | 'any';
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  /**
   * The success answer's schema (protocol/responses.ts, shared with freightctl): /openapi.json
   * documents it and controller/api/openapi.test.ts checks real answers against it. `null`: the
   * route answers 204 without a body; 'text/event-stream': a Server-Sent Events stream.
   */
  response: z.ZodType | null | 'text/event-stream';
  /**
   * Error codes this route can answer beyond the ones its shape implies (controller/api/openapi.ts
   * `errorsOf`: authentication, validation, the tenant and the objects its URL names, idempotency).
   */
  errors?: readonly ErrorCode[];
  status?: number;
  /** Largest request body in bytes (default: the app's, BODY_LIMITS.default); larger → 413 body_too_large. */
  bodyLimit?: number;
  /** Operation name for messages, e.g. `create network`. */
  op: string;
  /** What the operation acts on, appended to `op` in the handler's messages: `acme/blue`, `of acme`. */
  target?: (r: { params: Record<string, string>; body: B }) => string;
  /** The whole phrase instead, where the request changes the verb: `start container acme/web`. */
  describe?: (r: { params: Record<string, string>; body: B }) => string;
  /**
   * Body fields only an admin token may set (a tenant token gets 403 admin_only_field): choosing
   * them would tell a tenant what other tenants hold (a VNI in use, a node's name).
   */
  adminFields?: readonly string[];
  /**
   * Runs as the table owner instead of freight_api (admin routes only): token writes and node
   * removal, which freight_api has no right to (schema.sql, grants).
   */
  owner?: true;
  /**
   * Runs inside the route's retry (serialization failures, deadlocks, allocation races: the
   * whole handler again) and mapping (whatever it throws becomes an ApiError naming `ctx.op`).
   */
  handler(ctx: Ctx<B, Q>): Promise<unknown>;
}

/** Body size limits: small for almost every route, what a container's command or a repository key needs where larger. */
export const BODY_LIMITS = { default: 16 * 1024, containerCreate: 1024 * 1024, imageRepoCreate: 128 * 1024 } as const;

export const route = <B = undefined, Q = undefined>(r: RouteDef<B, Q>): RouteDef => r as unknown as RouteDef;

async function principalFor(req: FastifyRequest, reply: FastifyReply, def: RouteDef, deps: Deps) {
  // the token first: a valid one is never limited, whatever others sent from the same address
  const wasBlocked = deps.authLimit.blocked(req.ip) > 0;
  const tenantName = (req.params as Record<string, string | undefined>).tenant;
  let r: Awaited<ReturnType<typeof authenticateFor>>;
  try {
    r = await authenticateFor(deps.db, req.headers.authorization, tenantName);
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'unauthenticated')) throw err;
    const wait = deps.authLimit.fail(req.ip);
    if (!wasBlocked) throw err;
    reply.header('retry-after', String(Math.ceil(wait / 1000)));
    throw new ApiError(
      'too_many_auth_failures',
      `${def.op}: too many failed authentications from ${req.ip}; retry in ${Math.ceil(wait / 1000)} s`,
    );
  }
  if (r.principal.kind === 'node') throw new ApiError('forbidden', `${def.op}: node tokens are for the agent stream only`);
  if (def.auth === 'admin') requireAdmin(r.principal, def.op);
  return r;
}

/** The row-level security scope of a principal: its tenant, or every tenant for admins. */
export const scopeOf = (p: Principal): Scope => (p.kind === 'tenant' ? p.tenantId : ALL_TENANTS);

/** The handler's dependencies: every query runs as freight_api within the caller's scope. */
function scopedDeps(deps: Deps, scope: Scope): Deps {
  return { ...deps, db: scopedDb(deps.db, scope), batch: { run: (job) => deps.batch.run(job, scope) } };
}

/** The URL's tenant, or 404 tenant_not_found (also for another tenant's). */
function tenantOf(tenant: ScopedTenant | null, name: string, op: string): ScopedTenant {
  if (!tenant) throw new ApiError('tenant_not_found', `${op}: tenant ${name} not found`);
  return tenant;
}

/** Who made a request, for the audit log (set once the token is known). */
export type AuthByRequest = WeakMap<FastifyRequest, { principal: Principal; tenantId: string | null }>;

export function register(app: FastifyInstance, defs: RouteDef[], deps: Deps, seen: AuthByRequest): void {
  for (const def of defs) {
    if (def.owner && def.auth !== 'admin') throw new Error(`route ${def.method} ${def.url}: only admin routes may run as the owner`);
    app.route({
      method: def.method,
      url: def.url,
      ...(def.bodyLimit ? { bodyLimit: def.bodyLimit } : {}),
      handler: async (req, reply) => {
        const { principal, tenant } = await principalFor(req, reply, def, deps);
        seen.set(req, { principal, tenantId: principal.kind === 'tenant' ? principal.tenantId : (tenant?.id ?? null) });
        const params = req.params as Record<string, string>;
        let body, query, key;
        try {
          body = def.body ? parse(def.body, req.body ?? undefined, def.op) : undefined;
          query = def.query ? parseQuery(def.query, req.query, def.op) : undefined;
          key = def.method === 'POST' ? idempotencyKeyOf(req.headers, def.op) : undefined;
        } catch (err) {
          // another tenant's URL answers 404 whatever the body or key: nothing to learn from a 400
          if (params.tenant !== undefined) tenantOf(tenant, params.tenant, def.op);
          throw err;
        }
        checkAdminFields(def, principal, body, tenant, params);
        const d = def.owner ? deps : scopedDeps(deps, scopeOf(principal));
        const op = def.describe?.({ params, body }) ?? (def.target ? `${def.op} ${def.target({ params, body })}` : def.op);
        const run = async (): Promise<Answer> => {
          const result = await retryThenApiError(op, async () => {
            // tenant scope: another tenant's (or a missing) tenant answers 404 before any work
            const t = params.tenant !== undefined ? tenantOf(tenant, params.tenant, op) : (null as unknown as ScopedTenant);
            return def.handler({ principal, tenant: t, op, params, body, query, deps: d, reply });
          });
          return result === undefined ? { status: 204, body: undefined } : { status: def.status ?? 200, body: result };
        };
        const hash = key ? requestHash(req.method, req.url.split('?')[0], req.body) : '';
        const answer = key ? await idempotent(deps, principal.tokenId, key, hash, def.op, run, reply) : await run();
        if (reply.sent) return reply; // a stream (GET /v1/events) took the connection over
        if (answer.status === 204) return reply.code(204).send();
        return reply.code(answer.status).send(answer.body);
      },
    });
  }
}

/** 403 admin_only_field for a non-admin that sets one (after the 404 of another tenant's URL). */
function checkAdminFields(
  def: RouteDef,
  principal: Principal,
  body: unknown,
  tenant: ScopedTenant | null,
  params: Record<string, string>,
): void {
  if (principal.kind === 'admin' || !def.adminFields || !body || typeof body !== 'object') return;
  const field = def.adminFields.find((f) => (body as Record<string, unknown>)[f] !== undefined);
  if (field === undefined) return;
  if (params.tenant !== undefined) tenantOf(tenant, params.tenant, def.op);
  throw new ApiError('admin_only_field', `${def.op}: ${field} may be set with an admin token only`, field);
}

/**
 * The first request with a key runs and its answer is kept (errors below 500 too: a retry
 * would get the same one); on a 5xx the claim is given up so a retry runs again.
 */
async function idempotent(
  deps: Deps,
  actor: string,
  key: string,
  hash: string,
  op: string,
  run: () => Promise<Answer>,
  reply: FastifyReply,
): Promise<Answer> {
  const b = await deps.idempotency.begin(actor, key, hash, op);
  if (b.kind === 'replay') {
    reply.header('idempotent-replayed', 'true');
    return b.answer;
  }
  let answer: Answer;
  try {
    answer = await run();
  } catch (err) {
    const e = toApiError(err, op);
    if (e.status >= 500) await b.release().catch((e2) => deps.log.warn({ err: e2 }, 'idempotency: releasing a key failed'));
    else
      await b
        .finish({ status: e.status, body: e.body() })
        .catch((e2) => deps.log.warn({ err: e2 }, 'idempotency: recording an answer failed'));
    throw err;
  }
  // the work is committed: a failure here leaves the claim pending until it goes stale
  await b.finish(answer).catch((err) => deps.log.warn({ err }, 'idempotency: recording an answer failed'));
  return answer;
}

/** Query parameters: a list validates them all, so an unknown one is a 400 naming it (never silently ignored). */
function parseQuery<T>(schema: z.ZodType<T>, value: unknown, op: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const key = unknown.keys[0];
    throw new ApiError('unknown_parameter', `${op}: unknown query parameter ${key}`, key);
  }
  throw fromZod(r.error, op);
}

function parse<T>(schema: z.ZodType<T>, value: unknown, op: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw fromZod(r.error, op);
  return r.data;
}
