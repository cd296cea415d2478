/**
 * Limits repeated authentication failures per source address: after `limit` failures within
 * `windowMs`, that source's failing requests get 429 too_many_auth_failures (instead of 401)
 * until its oldest counted failure leaves the window. A request with a valid token is never
 * limited: callers check the token first and count only failures, so an attacker sharing an
 * address (NAT, proxy) cannot lock out the admin. In memory, per controller process (each
 * replica counts on its own). A success from one source never clears another's failures.
 *
 * Use: `const wait = limiter.fail(addr)` after a failed check → `wait > 0` ? 429 : 401;
 * `limiter.blocked(addr)` to refuse before doing expensive work (e.g. the stream upgrade).
 */
export interface AuthLimiter {
  /** Milliseconds until `source` may try again, or 0 when it is not blocked. */
  blocked(source: string): number;
  /** Same as blocked() (older name). */
  retryAfterMs(source: string): number;
  /** Counts one failed authentication from `source`; returns blocked(source) after counting it. */
  fail(source: string): number;
  /** Sources currently tracked (for tests and metrics). */
  size(): number;
}

export interface AuthLimitOptions {
  limit?: number;
  windowMs?: number;
  /** Tracked sources at most; the least recently failing are forgotten first (memory bound). */
  maxSources?: number;
  now?: () => number;
}

export function createAuthLimiter(o: AuthLimitOptions = {}): AuthLimiter {
  const limit = o.limit ?? 20;
  const windowMs = o.windowMs ?? 60_000;
  const maxSources = o.maxSources ?? 100_000;
  const now = o.now ?? (() => Date.now());
  // source → failure times, oldest first (at most `limit` kept); Map order = least recently failing first
  const failures = new Map<string, number[]>();

  const recent = (source: string, t: number): number[] => {
    const times = failures.get(source);
    if (!times) return [];
    while (times.length > 0 && times[0] <= t - windowMs) times.shift();
    if (times.length === 0) failures.delete(source);
    return times;
  };

  const blocked = (source: string) => {
    const t = now();
    const times = recent(source, t);
    return times.length >= limit ? times[0] + windowMs - t : 0;
  };
  return {
    blocked,
    retryAfterMs: blocked,
    fail(source) {
      const t = now();
      const times = recent(source, t);
      times.push(t);
      // the newest `limit` failures: an address that keeps failing stays blocked
      if (times.length > limit) times.shift();
      failures.delete(source);
      failures.set(source, times);
      if (failures.size > maxSources) failures.delete(failures.keys().next().value!);
      return blocked(source);
    },
    size: () => failures.size,
  };
}
