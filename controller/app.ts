import { MERGE_PATCH_TYPE } from '../protocol/merge-patch.js';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Db } from './store/db.js';
import type { Sealer } from './secrets/sealer.js';
import { registerPush, type PushHub, type PushOptions } from './push/index.js';
import { ApiError, toApiError } from './errors.js';
import { createHttpMetrics } from './metrics.js';
import { CONTENT_TYPE, Registry } from '../lib/metrics.js';
import { schedulePending } from './scheduler.js';
import { createBatcher } from './store/batch.js';
import { openApiDocument } from './api/openapi.js';
import { register, type Deps, type RouteDef, type AuthByRequest } from './api/route.js';
import { createAuditLog, type AuditLog, type AuditOptions } from './audit.js';
import { tenantRoutes } from './api/tenants.js';
import { networkRoutes } from './api/networks.js';
import { routerRoutes } from './api/routers.js';
import { securityGroupRoutes } from './api/security-groups.js';
import { floatingIpRoutes } from './api/floating-ips.js';
import { containerRoutes } from './api/containers.js';
import { clusterRoutes } from './api/cluster.js';
import { imageRoutes } from './api/images.js';
import { auditRoutes } from './api/audit.js';
import { componentRoutes } from './api/components.js';
import { createAuthLimiter, type AuthLimitOptions } from './auth-limit.js';
import { resolveDepsFromEnv, type ResolveDeps } from './images/resolve.js';
import { installAudit } from './audit-http.js';
import { applyServerLimits, fastifyLimitOptions, SERVER_LIMITS, type ServerLimits } from './limits.js';
import { isTimeout } from './store/db.js';
import { BODY_LIMITS } from './api/route.js';
import { createIdempotency, type IdempotencyOptions } from './api/idempotency.js';
import { eventRoutes } from './api/events.js';
import { EventHub, EVENTS_DEFAULTS, type EventsOptions } from './events/hub.js';
import { registerConsole } from './console.js';
import { installExec, type ExecLimits } from './api/exec.js';

export interface AppOptions {
  db: Db;
  log: Logger;
  /** A push hub to use; omitted → registerPush() from controller/push; false → none (logs answer node_unavailable). */
  push?: ApiHub | false;
  https?: { cert: string | Buffer; key: string | Buffer };
  /** Opens sealed ipsec keys for the push stream (serve passes the master key's sealer). */
  keys?: Sealer;
  bodyLimit?: number;
  now?: () => Date;
  version?: string;
  /** Authentication failures per source address before 429 (default 20 per minute). */
  authLimit?: AuthLimitOptions;
  /** Repository fetch settings; default: from the environment (FREIGHT_REPO_ALLOW_CIDR, …). */
  images?: ResolveDeps;
  /**
   * Proxies whose X-Forwarded-For is believed (addresses or CIDRs, Fastify trustProxy); the
   * client address of the limiter and the audit log is then the proxy's view. Off by default:
   * a client could otherwise name any address it likes.
   */
  trustProxy?: string[];
  /** HTTP server timeouts and connection cap (defaults: SERVER_LIMITS). */
  limits?: Partial<ServerLimits>;
  /** Audit log buffering (tests shorten the intervals). */
  auditOptions?: AuditOptions;
  /** Options of the agent stream (backpressure, ack timeout, …) when the app registers it. */
  pushOptions?: PushOptions;
  /** Idempotency-Key answers: kept 24 h by default. */
  idempotency?: Partial<IdempotencyOptions>;
  /** The events stream (GET /v1/events): its limits, or false for none. */
  events?: Partial<EventsOptions> | false;
  /** Where the web console's built assets are (default: dist/web beside the code); false: no console. */
  consoleDir?: string | false;
  /** `container exec` limits (controller/api/exec.ts). */
  execLimits?: Partial<ExecLimits>;
}

export const ROUTES: RouteDef[] = [
  ...tenantRoutes,
  ...networkRoutes,
  ...routerRoutes,
  ...securityGroupRoutes,
  ...floatingIpRoutes,
  ...containerRoutes,
  ...clusterRoutes,
  ...auditRoutes,
  ...imageRoutes,
  ...eventRoutes,
  ...componentRoutes,
];

/** The part of the push hub the API uses (logs, packages, metrics, shutdown; exec where the hub relays it). */
export type ApiHub = Pick<PushHub, 'requestLogs' | 'requestPackages' | 'metrics' | 'close'> &
  Partial<Pick<PushHub, 'exec' | 'requestSgStats' | 'requestInfraCounters'>>;

const noPush: ApiHub = {
  requestLogs: async () => {
    throw new Error('no push hub');
  },
  requestPackages: async () => {
    throw new Error('no push hub');
  },
  metrics: async () => '',
  close: async () => {},
};

/** Builds the controller's HTTP app (REST, OpenAPI, health, metrics, and the push hub's stream). */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance & { pushHub: ApiHub; audit: AuditLog }> {
  const limits = { ...SERVER_LIMITS, ...opts.limits };
  const app = Fastify({
    loggerInstance: opts.log,
    logController: new LogController({ disableRequestLogging: true }),
    // small by default; routes that need more say so (RouteDef.bodyLimit)
    bodyLimit: opts.bodyLimit ?? BODY_LIMITS.default,
    ...fastifyLimitOptions(limits, opts.https),
    ...(opts.trustProxy && opts.trustProxy.length > 0 ? { trustProxy: opts.trustProxy } : {}),
  }) as unknown as FastifyInstance;
  applyServerLimits(app.server, limits);
  const registry = new Registry();
  const metrics = createHttpMetrics(registry);
  const hubRef: { hub: ApiHub } = { hub: noPush };
  const audit = createAuditLog(opts.db, opts.log, opts.auditOptions, registry);
  const now = opts.now ?? (() => new Date());
  const events =
    opts.events === false
      ? undefined
      : new EventHub(opts.db, opts.log.child({ module: 'events' }), { ...EVENTS_DEFAULTS, ...opts.events }, registry);
  await events?.start();
  const deps: Deps = {
    events,
    db: opts.db,
    log: opts.log,
    get push() {
      return hubRef.hub;
    },
    now,
    batch: createBatcher(opts.db),
    authLimit: createAuthLimiter({ now: () => now().getTime(), ...opts.authLimit }),
    audit,
    images: { ...(opts.images ?? resolveDepsFromEnv()), log: opts.log },
    idempotency: createIdempotency(opts.db, opts.idempotency),
  };

  const seen: AuthByRequest = new WeakMap();
  const codes = new WeakMap<object, string>();
  installParsing(app);
  installErrors(app, codes);
  installAudit(app, ROUTES, audit, seen, codes, now);
  app.addHook('onResponse', async (req, reply) => {
    metrics.observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  register(app, ROUTES, deps, seen);
  installExec(app, { db: opts.db, log: opts.log, hub: () => hubRef.hub, audit, authLimit: deps.authLimit, limits: opts.execLimits });
  // a hub the app made registers in the app's registry; one passed in keeps its own
  installSystemRoutes(
    app,
    opts,
    limits.healthTimeoutMs,
    async () => (await registry.metrics()) + (opts.push === undefined ? '' : await hubRef.hub.metrics()),
  );

  if (opts.push === undefined) {
    hubRef.hub = await registerPush(app, {
      db: opts.db,
      log: opts.log,
      onNodeReady: async () => void (await schedulePending(opts.db)),
      audit,
      keys: opts.keys,
      options: opts.pushOptions,
      authLimit: deps.authLimit,
      registry,
    });
  } else if (opts.push) hubRef.hub = opts.push;
  if (opts.consoleDir !== false) await registerConsole(app, opts.consoleDir);
  app.addHook('preClose', async () => {
    // open streams would keep close() waiting for their connections
    await events?.close();
  });
  app.addHook('onClose', async () => {
    await events?.close();
    await hubRef.hub.close();
    await audit.close();
  });
  return Object.assign(app, { pushHub: hubRef.hub, audit });
}

/** JSON bodies: an empty body is "no body" (DELETE from curl -H content-type), bad JSON a 400. */
function installParsing(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  // PATCH bodies are JSON merge patches (RFC 7386); plain application/json is taken there too
  app.addContentTypeParser(['application/json', MERGE_PATCH_TYPE], { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(
        Object.assign(new Error(`invalid JSON: ${(err as Error).message}`), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON' }),
        undefined,
      );
    }
  });
}

/** Every error becomes `{code, message, path?}` with the catalogue's status; unknown routes 404 JSON. */
function installErrors(app: FastifyInstance, codes: WeakMap<object, string>): void {
  app.setErrorHandler((err, req, reply) => {
    const e = toApiError(err, `${req.method} ${req.routeOptions.url ?? req.url}`);
    if (e.status >= 500 && e.code === 'internal') req.log.error({ err, url: req.url }, 'request failed');
    codes.set(req, e.code);
    reply.code(e.status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('not_found', `${req.method} ${req.url.split('?')[0]}: no such route`);
    codes.set(req, e.code);
    reply.code(404).send(e.body());
  });
}

/** /openapi.json, /healthz, /metrics: no token needed. */
function installSystemRoutes(app: FastifyInstance, opts: AppOptions, healthMs: number, metricsText: () => Promise<string>): void {
  const doc = openApiDocument(ROUTES, opts.version ?? '0.1.0');
  app.get('/openapi.json', async () => doc);
  app.get('/healthz', async (_req, reply) => {
    const why = await probeDatabase(opts.db, healthMs);
    if (why === 'reachable') return { status: 'ok', database: why };
    const message = why === 'timeout' ? `healthz: database did not answer within ${healthMs} ms` : 'healthz: database unreachable';
    return reply.code(503).send({ code: 'database_unavailable', message, status: 'degraded', database: why });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(CONTENT_TYPE);
    return metricsText();
  });
}

/** `SELECT 1` within `ms`: reachable, timeout (connected or connecting, no answer) or unreachable. */
export async function probeDatabase(db: Db, ms: number): Promise<'reachable' | 'timeout' | 'unreachable'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const probe = db.query('SELECT 1').then(
    () => 'reachable' as const,
    (err) => (isTimeout(err) ? ('timeout' as const) : ('unreachable' as const)),
  );
  try {
    return await Promise.race([probe, late]);
  } finally {
    clearTimeout(timer);
  }
}
