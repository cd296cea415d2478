import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { EXEC_PATH, ExecClientMessage, type ExecServerMessage, type ExecStart } from '../../protocol/exec.js';
import { authenticateFor, type Principal } from '../auth.js';
import type { AuthLimiter } from '../auth-limit.js';
import type { AuditLog } from '../audit.js';
import { ApiError, toApiError } from '../errors.js';
import type { Db } from '../store/db.js';
import { getContainer, type Container } from '../store/containers.js';
import { scopedDb } from '../store/scope.js';
import type { ExecHandle, ExecRelaySink, PushHub } from '../push/index.js';
import { scopeOf } from './route.js';

export interface ExecLimits {
  /** Execs through this controller at once, per tenant and in all (defaults 8 and 64). */
  perTenant: number;
  total: number;
  /** Output queued towards a client that does not read, past which its exec ends (default 4 MiB). */
  clientBacklogBytes: number;
  /** The client's `start` must come within this (default 10 s). */
  startTimeoutMs: number;
}
export const EXEC_LIMITS_DEFAULT: ExecLimits = { perTenant: 8, total: 64, clientBacklogBytes: 4 * 1024 * 1024, startTimeoutMs: 10_000 };

export interface ExecDeps {
  db: Db;
  log: Logger;
  hub: () => Partial<Pick<PushHub, 'exec'>>;
  audit: AuditLog;
  authLimit: AuthLimiter;
  limits?: Partial<ExecLimits>;
}

interface Authorized {
  principal: Principal;
  tenantId: string;
  container: Container;
  ref: string;
}

/**
 * `GET /v1/tenants/:tenant/containers/:name/exec` with `Upgrade: websocket`: the token and the
 * container are checked before the upgrade (a refusal is an ordinary HTTP answer with the API's
 * error body), then freightctl sends `start` and input, and gets output and the exit
 * (protocol/exec.ts). The controller relays through the node's agent stream (docs/push.md).
 */
export function installExec(app: FastifyInstance, deps: ExecDeps): void {
  const limits = { ...EXEC_LIMITS_DEFAULT, ...deps.limits };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 128 * 1024 });
  const active = new Map<string, number>();
  let total = 0;
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const m = EXEC_PATH.exec((req.url ?? '').split('?')[0]);
    if (!m) return;
    socket.on('error', () => socket.destroy());
    const source = req.socket.remoteAddress ?? 'unknown';
    authorize(deps, req, decode(m[1]), decode(m[2]), source).then(
      (a) => {
        const n = active.get(a.tenantId) ?? 0;
        if (n >= limits.perTenant || total >= limits.total) {
          const why = n >= limits.perTenant ? `${limits.perTenant} execs of this tenant` : `${limits.total} execs`;
          return refuse(socket, new ApiError('too_many_execs', `exec in container ${a.ref}: ${why} already run through this controller`));
        }
        active.set(a.tenantId, n + 1);
        total++;
        wss.handleUpgrade(req, socket, head, (ws) => {
          const release = () => {
            total--;
            const left = (active.get(a.tenantId) ?? 1) - 1;
            if (left > 0) active.set(a.tenantId, left);
            else active.delete(a.tenantId);
          };
          session(deps, limits, ws, a, source, req.url ?? '', release);
        });
      },
      (err) => refuse(socket, toApiError(err, 'exec')),
    );
  });
}

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

async function authorize(deps: ExecDeps, req: IncomingMessage, tenant: string, name: string, source: string): Promise<Authorized> {
  const op = `exec in container ${tenant}/${name}`;
  const wasBlocked = deps.authLimit.blocked(source) > 0;
  let r: Awaited<ReturnType<typeof authenticateFor>>;
  try {
    r = await authenticateFor(deps.db, req.headers.authorization, tenant);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unauthenticated') {
      deps.authLimit.fail(source);
      deps.audit.authFailure({ at: new Date(), source, method: 'GET', path: req.url ?? '', status: 401, code: 'unauthenticated' });
      if (wasBlocked) throw new ApiError('too_many_auth_failures', `${op}: too many failed authentications from ${source}`);
    }
    throw err;
  }
  const { principal } = r;
  if (principal.kind === 'node') throw new ApiError('forbidden', `${op}: node tokens are for the agent stream only`);
  // another tenant's (or a missing) tenant: 404, nothing to learn
  if (!r.tenant) throw new ApiError('tenant_not_found', `${op}: tenant ${tenant} not found`);
  const container = await getContainer(scopedDb(deps.db, scopeOf(principal)), r.tenant, name, op);
  if (container.kind === 'infra' && principal.kind !== 'admin')
    throw new ApiError('forbidden', `${op}: the infra instance of a network takes exec from an admin token only`);
  if (!container.node) throw new ApiError('node_unavailable', `${op}: not scheduled on a node yet`);
  if (container.observedState !== 'running')
    throw new ApiError('container_not_running', `${op}: the container is ${container.observedState}, not running`);
  return { principal, tenantId: r.tenant.id, container, ref: `${tenant}/${name}` };
}

function refuse(socket: Duplex, e: ApiError): void {
  const body = JSON.stringify(e.body());
  socket.end(
    `HTTP/1.1 ${e.status} ${e.code}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** One exec over one client WebSocket: start, relay both ways, exit, audit. */
function session(
  deps: ExecDeps,
  limits: ExecLimits,
  ws: WebSocket,
  a: Authorized,
  source: string,
  path: string,
  release: () => void,
): void {
  const send = (m: ExecServerMessage) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
  let handle: ExecHandle | undefined;
  let ended = false;
  const audit = (action: string, status: number, code: string | null, extra = '') =>
    deps.audit.record({
      at: new Date(),
      actor: `${a.principal.kind}:${a.principal.tokenId}`,
      tenantId: a.tenantId,
      method: 'GET',
      path: path.split('?')[0],
      status,
      source,
      action,
      object: `container ${a.ref}${extra}`.slice(0, 1000),
      code,
    });
  const end = (m: ExecServerMessage, closeCode = 1000) => {
    if (ended) return;
    ended = true;
    clearTimeout(startTimer);
    clearInterval(alive);
    release();
    send(m);
    ws.close(closeCode);
    setTimeout(() => ws.terminate(), 2000).unref();
  };
  const fail = (code: string, message: string) => {
    handle?.kill();
    audit('exec container', 400, code);
    end({ type: 'error', code, message }, 1008);
  };
  const startTimer = setTimeout(() => fail('invalid', `exec in container ${a.ref}: no start message in time`), limits.startTimeoutMs);
  // a client that vanished without a close (its network went away) is found by its missing pong
  let pong = true;
  ws.on('pong', () => (pong = true));
  const alive = setInterval(() => {
    if (!pong) return ws.terminate();
    pong = false;
    ws.ping();
  }, 30_000);
  alive.unref();

  const sink: ExecRelaySink = {
    started: () => send({ type: 'started' }),
    output: (stream, data) => {
      if (ws.bufferedAmount > limits.clientBacklogBytes) {
        handle?.kill();
        return end({ type: 'error', code: 'slow_client', message: `exec in container ${a.ref}: output not read: ended` }, 1008);
      }
      send({ type: 'output', stream, data });
    },
    exit: (e) => {
      const how = e.error ? e.error.code : e.signal ? `signal ${e.signal}` : `exit ${e.code}`;
      audit('exec exit', e.error ? 503 : 200, how);
      end({ type: 'exit', ...e });
    },
  };

  const start = (s: ExecStart) => {
    clearTimeout(startTimer);
    audit('exec container', 101, null, ` ${JSON.stringify(s.argv)}${s.tty ? ' tty' : ''}`);
    const exec = deps.hub().exec;
    try {
      if (!exec) throw new ApiError('node_unavailable', 'no push hub');
      handle = exec(a.container.node!, a.container.id, s, sink);
    } catch (err) {
      const e = toApiError(err, `exec in container ${a.ref}`);
      end({ type: 'error', code: e.code, message: e.message }, 1011);
    }
  };

  ws.on('message', (raw, isBinary) => {
    if (ended) return;
    let msg: ExecClientMessage;
    try {
      if (isBinary) throw new Error('text frames expected');
      const parsed = ExecClientMessage.safeParse(JSON.parse(String(raw)));
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; '));
      msg = parsed.data;
    } catch (err) {
      return fail('invalid', `exec in container ${a.ref}: ${(err as Error).message}`.slice(0, 500));
    }
    if (msg.type === 'start') {
      if (handle) return fail('invalid', `exec in container ${a.ref}: a second start`);
      return start(msg);
    }
    if (!handle) return fail('invalid', `exec in container ${a.ref}: ${msg.type} before start`);
    if (msg.type === 'stdin') handle.input(msg.data);
    else if (msg.type === 'eof') handle.input(undefined, true);
    else handle.resize(msg.size);
  });
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    if (ended) return;
    // the client went away: the command goes with it
    handle?.kill();
    audit('exec exit', 499, 'client_closed');
    ended = true;
    clearTimeout(startTimer);
    clearInterval(alive);
    release();
  });
}
