import { clearToken, getToken } from './session.js';

/** An error answer of the API: its stable code, message and field path (`path`), as docs/api.md describes. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/** Called when the token is refused (401): the app returns to the login form. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** One REST call with the session's token in the Authorization header (never in the URL). */
export async function api<T = unknown>(method: string, url: string, body?: unknown, token = getToken()): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const b = (parsed ?? {}) as { code?: string; message?: string; path?: string };
    if (res.status === 401) {
      clearToken();
      onUnauthorized();
    }
    throw new ApiFailure(res.status, b.code ?? `http_${res.status}`, b.message ?? (text.slice(0, 200) || res.statusText), b.path);
  }
  return parsed as T;
}

/** Every item of a paginated list (`?limit=&after=`), page by page, `onPage` after each. */
export async function listAll<T>(url: string, onPage?: (items: T[]) => void): Promise<T[]> {
  const all: T[] = [];
  let after: string | null = null;
  for (;;) {
    const q: string = `${url}${url.includes('?') ? '&' : '?'}limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const page: { items: T[]; next: string | null } = await api('GET', q);
    all.push(...page.items);
    onPage?.(page.items);
    if (!page.next) return all;
    after = page.next;
  }
}

export const enc = encodeURIComponent;
