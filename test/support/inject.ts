import type { FastifyInstance } from 'fastify';

/**
 * `call`/`ok` for API tests that drive the app with `inject` (no socket): JSON bodies (merge
 * patches for PATCH), a bearer token (the admin's by default), status and parsed body back.
 * `app` is read at each call: tests build it in beforeAll.
 */
export function injector(app: () => FastifyInstance, admin: string) {
  const call = async (method: string, url: string, body?: unknown, token: string = admin) => {
    const res = await app().inject({
      method: method as 'GET',
      url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}),
      },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, json: res.body ? res.json() : undefined };
  };
  /** `call` that throws unless the answer is 2xx, and gives its body. */
  const ok = async (method: string, url: string, body?: unknown, token?: string) => {
    const r = await call(method, url, body, token);
    if (r.status >= 300) throw new Error(`${method} ${url} → ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  return { call, ok };
}
