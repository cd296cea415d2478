/** Reconnect delay: exponential from `minMs` to `maxMs`, with jitter in [d/2, d] so agents spread out. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(d / 2 + (random() * d) / 2);
}
