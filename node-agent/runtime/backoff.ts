/** Restart backoff: base · 2^n, capped. n counts restarts since the container last ran stably. */
export interface BackoffConfig {
  baseMs: number;
  capMs: number;
  /** A run at least this long resets n: a container that crashes once a day restarts at once. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 500, capMs: 60_000, stableMs: 30_000 };

export function restartDelay(n: number, cfg: BackoffConfig): number {
  return Math.min(cfg.capMs, cfg.baseMs * 2 ** Math.min(n, 30));
}
