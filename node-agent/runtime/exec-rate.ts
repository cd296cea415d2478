/**
 * Output rate of one exec: a token bucket of `bytesPerSecond` with `burst` bytes of credit. `take`
 * says how long to pause the source after a chunk (0: go on). Pure, clock injected.
 */
export class RateGate {
  private credit: number;
  private at: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.credit = burst;
    this.at = now();
  }

  /** Spends `bytes`; returns the milliseconds to wait before reading more. */
  take(bytes: number): number {
    const t = this.now();
    this.credit = Math.min(this.burst, this.credit + ((t - this.at) * this.bytesPerSecond) / 1000);
    this.at = t;
    this.credit -= bytes;
    return this.credit >= 0 ? 0 : Math.ceil((-this.credit * 1000) / this.bytesPerSecond);
  }
}
