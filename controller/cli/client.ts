/** freightctl's HTTP client: one request function, errors carrying the API's code. */

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Process exit status: 1 API error, 2 usage, 3 controller unreachable. */
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  token?: string;
}

export type Request = (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => Promise<unknown>;

/** `send` does the HTTP(S) (controller/cli/transport.ts: TLS verified against the CA given). */
export function client(opts: ClientOptions, send: (method: string, url: string, headers: Record<string, string>, body?: string) => Promise<{ status: number; text: string }>): Request {
  const base = opts.url.replace(/\/+$/, '');
  return async (method, path, body) => {
    const res = await send(`${method}`, `${base}${path}`, {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    }, body === undefined ? undefined : JSON.stringify(body));
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
      const where = e.path ? ` (field ${e.path})` : '';
      throw new CliError(e.code ?? `http_${res.status}`, `${e.message ?? text.slice(0, 200)}${where}`, 1);
    }
    return json;
  };
}

/** Follows `next` cursors to the end of a list. */
export async function listAll<T>(req: Request, path: string): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = (await req('GET', `${path}${sep}limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`)) as { items: T[]; next: string | null };
    out.push(...page.items);
    after = page.next;
  } while (after);
  return out;
}

/** `TENANT/NAME` → parts; `TENANT` alone allowed when `nameOptional`. */
export function splitRef(ref: string, nameOptional = false): { tenant: string; name?: string } {
  const [tenant, name, ...rest] = ref.split('/');
  if (!tenant || rest.length || (!nameOptional && !name)) throw new CliError('usage', `expected ${nameOptional ? 'TENANT[/NAME]' : 'TENANT/NAME'}, got ${ref}`, 2);
  return { tenant, name: name || undefined };
}

export const enc = encodeURIComponent;
