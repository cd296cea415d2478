/**
 * Burst pacing of fan-outs (Hub.catchUp). Each fan-out costs every agent of a network one
 * message, and this replica one socket write per agent: at 500 agents a burst of 1,000 creates
 * fanned out once per commit spent most of the event loop in writev, and slowed the API it
 * shares it with. After a bulk fan-out the next waits, so it carries all that committed meanwhile.
 */

/** What a catch-up fanned out: change rows that touched view items, and the time their fan-out took. */
export interface FannedOut {
  rows: number;
  ms: number;
}

/** A fan-out of this many change rows was a bulk change (a burst of creates, a big delete). */
export const BULK_ROWS = 8;
/** In a burst, fan-outs take at most 1 / (1 + PACE) of the event loop's time. */
export const PACE = 4;

/** How long the next fan-out waits after this one (ms): none after a small change, else PACE × its time, at most `capMs`. */
export function paceMs(f: FannedOut, capMs: number): number {
  return f.rows >= BULK_ROWS ? Math.min(capMs, PACE * f.ms) : 0;
}
