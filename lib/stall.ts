/**
 * Logs when the event loop was blocked long enough to matter: a daemon that cannot run its timers
 * misses heartbeats, and its peers reconnect. The warning names the stall so the cause can be
 * told apart from a dead network.
 */
export interface StallLog {
  warn(obj: object, msg: string): void;
}

export function watchStalls(log: StallLog, thresholdMs = 500, tickMs = 100): () => void {
  let last = Date.now();
  const t = setInterval(() => {
    const now = Date.now();
    const late = now - last - tickMs;
    last = now;
    if (late >= thresholdMs) log.warn({ stalledMs: late }, 'event loop stalled');
  }, tickMs);
  t.unref();
  return () => clearInterval(t);
}
