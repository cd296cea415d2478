import type { ServerResponse } from 'node:http';

/**
 * One Server-Sent Events stream. Writes never wait: a client that does not read lets its
 * socket's buffer grow, and past the high-water mark the stream is cut (the client resumes
 * with Last-Event-ID), so a slow reader costs the controller a bounded amount of memory.
 */
export class Subscriber {
  private done = false;
  private readonly ends: Array<() => void> = [];
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    /** null: an admin (sees every event); else the tenant whose events it sees. */
    readonly tenantId: string | null,
    private readonly highWaterBytes: number,
    keepAliveMs: number,
    private readonly onOverflow: () => void,
  ) {
    res.on('close', () => this.end());
    res.on('error', () => this.end());
    this.keepAlive = setInterval(() => this.write(': keep-alive\n\n'), keepAliveMs);
    this.keepAlive.unref();
  }

  get ended(): boolean {
    return this.done;
  }

  /** Whether an event of this tenant (null: of no tenant, e.g. nodes) is for this stream. */
  sees(tenantId: string | null): boolean {
    return this.tenantId === null || (tenantId !== null && tenantId === this.tenantId);
  }

  send(name: string, data: unknown, id?: number): void {
    this.sendText(name, JSON.stringify(data), id);
  }

  /** `data` is one line of JSON (JSON.stringify never writes a raw newline). */
  sendText(name: string, data: string, id?: number): void {
    this.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${data}\n\n`);
  }

  private write(text: string): void {
    if (this.done) return;
    this.res.write(text);
    if (this.res.writableLength > this.highWaterBytes) {
      this.onOverflow();
      this.res.destroy();
      this.end();
    }
  }

  onEnd(fn: () => void): void {
    if (this.done) fn();
    else this.ends.push(fn);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.keepAlive);
    if (!this.res.destroyed) this.res.end();
    for (const fn of this.ends.splice(0)) fn();
  }
}
