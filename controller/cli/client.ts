/** freightctl's HTTP client: one request function, errors carrying the API's code. */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { EXIT, exitForStatus } from './exit.js';

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Process exit status (controller/cli/exit.ts): 1 API error, 2 usage, 3 not found, 4 conflict, 5 unreachable. */
    readonly exitCode: number,
    /** The field the error is about (the API's `path`), for `-o json` errors. */
    readonly path?: string,
    /** The HTTP status of an API answer. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Where tokens come from, for a request sent without one. */
export const TOKEN_HINT =
  "give --token TOKEN or set FREIGHT_TOKEN: the admin token is in the controller's STATE_DIR/admin-token, " +
  'and `freightctl token create --tenant NAME` makes tenant tokens';

export interface ClientOptions {
  url: string;
  token?: string;
  /** Further attempts after a lost connection, database_unavailable or idempotency_key_in_progress (not for DELETE). Default 2. */
  retries?: number;
  retryDelayMs?: number;
  /** The invocation's Idempotency-Key prefix (a fresh UUID by default). */
  invocationKey?: string;
}

export type Request = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown) => Promise<unknown>;
export type Send = (
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
) => Promise<{ status: number; text: string }>;

/** The connection broke after the request may have reached the controller (transport.ts keeps the cause). */
const LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
const lost = (err: unknown) =>
  err instanceof CliError && err.code === 'unreachable' && LOST.has(String((err.cause as { code?: unknown })?.code));
/** Answers after which the same request, same key, may succeed. */
const RETRY_CODES = new Set(['database_unavailable', 'idempotency_key_in_progress']);

/**
 * One client per freightctl invocation. `send` does the HTTP(S) (controller/cli/transport.ts:
 * TLS verified against the CA given). Each POST carries `Idempotency-Key: <invocation>.<n>`, the
 * same on its retries, so a create retried after a lost answer is not done twice.
 */
export function client(opts: ClientOptions, send: Send): Request {
  const base = opts.url.replace(/\/+$/, '');
  const invocation = opts.invocationKey ?? randomUUID();
  const retries = opts.retries ?? 2;
  let posts = 0;
  return async (method, path, body) => {
    const headers = {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(method === 'POST' ? { 'idempotency-key': `${invocation}.${++posts}` } : {}),
    };
    for (let attempt = 0; ; attempt++) {
      const again = method !== 'DELETE' && attempt < retries;
      let res: { status: number; text: string };
      try {
        res = await send(method, `${base}${path}`, headers, body === undefined ? undefined : JSON.stringify(body));
      } catch (err) {
        if (!again || !lost(err)) throw err;
        await delay(opts.retryDelayMs ?? 250, attempt);
        continue;
      }
      if (res.status === 204) return undefined;
      const text = res.text;
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      if (res.status < 200 || res.status >= 300) {
        const e = (json ?? {}) as { code?: string; message?: string; path?: string };
        if (again && RETRY_CODES.has(e.code ?? '')) {
          await delay(opts.retryDelayMs ?? 250, attempt);
          continue;
        }
        throw apiError(res.status, e, text, Boolean(opts.token));
      }
      return json;
    }
  };
}

/** The CliError of an error answer: the API's code, its message naming the field once, a hint where one helps. */
function apiError(status: number, e: { code?: string; message?: string; path?: string }, text: string, hadToken: boolean): CliError {
  let message = e.message ?? (text.slice(0, 200) || `HTTP ${status}`);
  // the API's messages name their field already ("cidr: …"); say it only where they do not
  if (e.path && !message.includes(e.path)) message += ` (field ${e.path})`;
  if (status === 401)
    message += hadToken
      ? ": the controller refused the token (revoked, mistyped, or another controller's)"
      : `: no token was given; ${TOKEN_HINT}`;
  return new CliError(e.code ?? `http_${status}`, message, exitForStatus(status), e.path, status);
}

const delay = (ms: number, attempt: number) => new Promise((r) => setTimeout(r, ms * 2 ** attempt));

/**
 * An answer read as the protocol type the API documents for it (protocol/responses.ts): a
 * controller answering something else is an error here, not a crash deep in a formatter.
 */
export function typed<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
  throw new CliError('bad_response', `${what}: the controller's answer is not what its API documents${where}: ${issue?.message}`, EXIT.api);
}

/** Follows `next` cursors to the end of a list; with `item`, each is read as that protocol type. */
export async function listAll<T>(req: Request, path: string, item?: z.ZodType<T>): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = (await req('GET', `${path}${sep}limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`)) as {
      items: unknown[];
      next: string | null;
    };
    out.push(...(item ? page.items.map((x) => typed(item, x, `GET ${path}`)) : (page.items as T[])));
    after = page.next;
  } while (after);
  return out;
}

/** `TENANT/NAME` → parts; `TENANT` alone allowed when `nameOptional`. */
export function splitRef(ref: string, nameOptional = false): { tenant: string; name?: string } {
  const [tenant, name, ...rest] = ref.split('/');
  if (!tenant || rest.length || (!nameOptional && !name))
    throw new CliError('usage', `expected ${nameOptional ? 'TENANT[/NAME]' : 'TENANT/NAME'}, got ${ref}`, EXIT.usage);
  return { tenant, name: name || undefined };
}

export const enc = encodeURIComponent;
