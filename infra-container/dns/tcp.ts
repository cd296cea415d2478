import type net from 'node:net';
import type { Logger } from 'pino';
import { handleDns, type DnsContext } from './handle.js';

/** What one client can make the TCP side hold; every figure bounds memory whatever the client does. */
export interface TcpLimits {
  /** connections open at once, all clients */
  maxConnections: number;
  /** connections open at once from one source address */
  maxPerClient: number;
  /** queries read but not yet answered on one connection: reading pauses at this many */
  maxPendingReplies: number;
  /** a connection with no traffic either way for this long is closed */
  idleMs: number;
}

export const DEFAULT_TCP_LIMITS: TcpLimits = { maxConnections: 128, maxPerClient: 8, maxPendingReplies: 16, idleMs: 10_000 };

/** One frame (2-byte length + a message of at most 65,535 bytes) and one read chunk. */
const TCP_MAX_BUFFER = 2 * 65_537;

/** Admission per source address; the total is the server's maxConnections. */
export class ClientCounts {
  private readonly open = new Map<string, number>();
  constructor(private readonly perClient: number) {}
  /** Counts the connection in, or false when its address already has its share. */
  admit(address: string): boolean {
    const n = this.open.get(address) ?? 0;
    if (n >= this.perClient) return false;
    this.open.set(address, n + 1);
    return true;
  }
  release(address: string): void {
    const n = (this.open.get(address) ?? 1) - 1;
    if (n <= 0) this.open.delete(address);
    else this.open.set(address, n);
  }
}

/**
 * RFC 7766 framing: 2-byte length, several queries per connection, answered in order.
 * Backpressure: a connection is read only while it has fewer than maxPendingReplies
 * queries in hand and the socket has taken every reply written so far (write() true, or
 * 'drain'). A client that pipelines without reading stops being read; the kernel's
 * socket buffers and TCP flow control hold the rest, on its side.
 */
export function serveTcp(ctx: DnsContext, log: Logger, conn: net.Socket, limits: TcpLimits): void {
  ctx.counters.inc('dns_tcp_connections');
  let pending: Buffer = Buffer.alloc(0);
  let chain: Promise<void> = Promise.resolve();
  let inHand = 0;
  let blocked = false;
  const busy = (): boolean => inHand >= limits.maxPendingReplies || blocked;

  const reply = (answer: Buffer | null): void => {
    if (!answer || conn.destroyed) return;
    const frame = Buffer.allocUnsafe(2 + answer.length);
    frame.writeUInt16BE(answer.length, 0);
    answer.copy(frame, 2);
    if (!conn.write(frame)) blocked = true;
  };
  const dispatch = (msg: Buffer): void => {
    inHand++;
    const r = handleDns(ctx, msg, 'tcp');
    chain = chain
      .then(async () => reply(await r))
      .catch((err: unknown) => log.warn({ err }, 'dns tcp reply failed'))
      .finally(() => {
        inHand--;
        later();
      });
  };
  // the next frames wait for the next turn of the event loop: a connection with a full buffer
  // of queries answers maxPendingReplies of them per turn, and every other socket gets its turn
  let scheduled = false;
  const later = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };
  /** Takes whole frames while there is room, then reads on or pauses. */
  const pump = (): void => {
    while (!busy() && pending.length >= 2) {
      const len = pending.readUInt16BE(0);
      if (pending.length < 2 + len) break;
      const msg = Buffer.from(pending.subarray(2, 2 + len));
      pending = pending.subarray(2 + len);
      dispatch(msg);
    }
    if (conn.destroyed) return;
    if (busy()) {
      if (!conn.isPaused()) ctx.counters.inc('dns_tcp_paused');
      conn.pause();
    } else conn.resume();
  };

  conn.setTimeout(limits.idleMs, () => {
    ctx.counters.inc('dns_tcp_idle_closed');
    conn.destroy();
  });
  conn.on('error', () => conn.destroy());
  conn.on('drain', () => {
    blocked = false;
    pump();
  });
  conn.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    if (pending.length > TCP_MAX_BUFFER) return void conn.destroy();
    pump();
  });
}
