import { sqlState } from './db.js';

/** Unique keys that only collide when two writers allocated at once: the loser retries. */
const RETRYABLE_CONSTRAINTS = new Set(['endpoints_network_id_ip_key', 'endpoints_network_id_mac_key', 'networks_vni_key']);

export function isRetryable(err: unknown): boolean {
  const state = sqlState(err);
  if (state === '40001' || state === '40P01') return true;
  return state === '23505' && RETRYABLE_CONSTRAINTS.has(String((err as { constraint?: unknown }).constraint));
}

/** Runs `fn` again on serialization failures, deadlocks and allocation races, with jittered backoff. */
export async function withRetry<T>(
  fn: () => Promise<T>,
  attempts = 8,
  sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isRetryable(err)) throw err;
      await sleep(Math.random() * 5 * i);
    }
  }
}
