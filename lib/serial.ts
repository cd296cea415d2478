/**
 * Runs async tasks one at a time, in submission order: the single writer of some state (the push
 * hub's model, the dataplane, the runtime, key rotation, an agent session's inbound messages).
 * A failed task does not stop the queue; its caller gets the rejection.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }

  /** Resolves once every task submitted so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => {});
  }
}
