/**
 * Logs when the event loop was blocked long enough to matter: a daemon that cannot run its timers
 * misses heartbeats, and its peers reconnect. The warning names the stall so the cause can be
 * told apart from a dead network. At most one line per `everyMs` (with how many stalls and the
 * worst since the last line): the embedded database runs in-process and stalls the loop on every
 * large query by design, and must not flood the log.
 */
export interface StallLog {
  warn(obj: object, msg: string): void;
}

export interface StallOptions {
  thresholdMs?: number;
  tickMs?: number;
  everyMs?: number;
}

export function watchStalls(log: StallLog, o: StallOptions = {}): () => void {
  const { thresholdMs = 500, tickMs = 100, everyMs = 30_000 } = o;
  let last = Date.now();
  let logged = 0;
  let stalls = 0;
  let worst = 0;
  const t = setInterval(() => {
    const now = Date.now();
    const late = now - last - tickMs;
    last = now;
    if (late < thresholdMs) return;
    stalls++;
    worst = Math.max(worst, late);
    if (now - logged < everyMs) return;
    log.warn({ stalledMs: late, stalls, worstMs: worst }, 'event loop stalled');
    logged = now;
    stalls = 0;
    worst = 0;
  }, tickMs);
  t.unref();
  return () => clearInterval(t);
}
