/**
 * The one gateway to the npm `netlink` package (0.3.0). Everything that talks to the
 * kernel over netlink goes through NetlinkGateway, which fixes the package's gaps:
 *
 * - errors become typed NetlinkError {code (snake_case), errno (its name), op, target};
 * - a send always has a completion callback and the socket always has an `error`
 *   listener (a failed send without one aborts the process with exit 134);
 * - batches are packed into ONE Buffer per chunk (more than 1,024 iovec buffers in one
 *   send fails with EMSGSIZE);
 * - receive buffers are 8 MiB so that dumps of 100k entries and bursts of error
 *   replies never overflow (ENOBUFS);
 * - multicast notifications (RTNLGRP_LINK/NEIGH …) are delivered to `onEvent`.
 *
 * Batches: every message but the last of a chunk is sent WITHOUT NLM_F_ACK. The kernel
 * still answers every failing message with an NLMSG_ERROR carrying its sequence number
 * (netlink_rcv_skb acks when `err || NLM_F_ACK`), and keeps processing the rest of the
 * datagram; so per-entry errors are reported while successes cost no reply. The chunk
 * is complete when the answer to its last message arrives.
 */
import nl from 'netlink';
import { NetlinkError } from './errors.js';
import { NLM_F, NLMSG, formatMessage, parseMessages, type NetlinkMessage } from './codec.js';

export * from './codec.js';
export { NetlinkError, isNetlinkError } from './errors.js';

export const PROTOCOL = { route: 0, xfrm: 6 } as const;
export type Protocol = keyof typeof PROTOCOL;

export const RECV_BUFFER = 8 << 20;
export const SEND_BUFFER = 4 << 20;
export const DEFAULT_CHUNK = 1000;
/** Receive buffer of one recvmsg: the kernel caps dump skbs at 32 KiB unless a message needs more. */
export const MSG_BUFFER = 64 << 10;
const DEFAULT_TIMEOUT_MS = 15_000;

/** One netlink request: message type, flags (REQUEST/ACK are added), payload, and names for errors. */
export interface NlMsg {
  type: number;
  flags?: number;
  payload: Uint8Array[] | Buffer;
  op: string;
  target: string;
}

interface Waiter {
  msg: NlMsg;
  replies: NetlinkMessage[];
  /** settles with the error (or undefined on success) */
  done: (err: NetlinkError | undefined, replies: NetlinkMessage[]) => void;
  /** true for dumps: the answer ends with NLMSG_DONE instead of an ack */
  dump: boolean;
  /** batches: answers arrive only for errors and for the last message */
  silent: boolean;
}

export interface GatewayOptions {
  /** multicast groups to join (events arrive at onEvent) */
  groups?: number[];
  recvBuffer?: number;
  timeoutMs?: number;
}

export class NetlinkGateway {
  private readonly raw: nl.RawNetlinkSocket;
  private readonly port: number;
  private readonly waiters = new Map<number, Waiter>();
  private readonly eventListeners: Array<(msgs: NetlinkMessage[]) => void> = [];
  private readonly errorListeners: Array<(e: NetlinkError) => void> = [];
  private seq = Math.floor(Math.random() * 0x3fffffff) + 1;
  private closed = false;
  private readonly timeoutMs: number;

  private constructor(
    readonly protocol: Protocol,
    opts: GatewayOptions,
  ) {
    this.raw = new nl.RawNetlinkSocket(PROTOCOL[protocol], {
      recvBufferSize: opts.recvBuffer ?? RECV_BUFFER,
      sendBufferSize: SEND_BUFFER,
      // One big buffer per recvmsg instead of the library's peek-then-read: the kernel sizes
      // the skbs of a dump by the largest recvmsg buffer it has seen (up to 32 KiB), and the
      // vxlan FDB dump walks every entry before its resume point for each new skb. With
      // peeking, skbs stayed one page (~48 entries): a 100k-entry dump took 8 s, now 8× fewer restarts.
      messagePeeking: false,
      msgBufferSize: MSG_BUFFER,
    });
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.port = this.raw.address().port;
    // Never without an error listener: an unhandled 'error' event kills the process.
    this.raw.on('error', (e) =>
      this.failAll(new NetlinkError({ errno: e.errno ?? 0, name: e.code, op: 'socket', target: protocol, cause: e })),
    );
    // a copy of the exact size: the library hands over its whole 64 KiB allocation
    this.raw.on('message', (buf) => this.receive(Buffer.from(buf)));
    // larger than MSG_BUFFER: its answer is lost, so whoever waits must fail rather than hang
    this.raw.on('truncatedMessage', (_buf, rinfo) =>
      this.failAll(
        new NetlinkError({
          errno: 0,
          name: 'EMSGSIZE',
          op: 'receive',
          target: protocol,
          detail: `message of ${String(rinfo.truncated)} bytes`,
        }),
      ),
    );
    for (const g of opts.groups ?? []) this.raw.addMembership(g);
    if (!opts.groups?.length) this.raw.unref();
  }

  /** Opens a socket in the calling process's network namespace. */
  static open(protocol: Protocol = 'route', opts: GatewayOptions = {}): NetlinkGateway {
    return new NetlinkGateway(protocol, opts);
  }

  /** Multicast notifications (only for sockets opened with `groups`). */
  onEvent(fn: (msgs: NetlinkMessage[]) => void): void {
    this.eventListeners.push(fn);
  }

  /** Socket-level failures (e.g. ENOBUFS on the event socket: state must be re-read). */
  onError(fn: (e: NetlinkError) => void): void {
    this.errorListeners.push(fn);
  }

  /** Sends one request and waits for its ack; resolves with any reply messages (e.g. a GET answer). */
  async request(msg: NlMsg): Promise<NetlinkMessage[]> {
    return this.start(msg, false);
  }

  /** Sends a dump request and collects every message up to NLMSG_DONE. */
  async dump(msg: NlMsg): Promise<NetlinkMessage[]> {
    return this.start({ ...msg, flags: (msg.flags ?? 0) | NLM_F.DUMP }, true);
  }

  /**
   * Sends many requests, `chunk` messages per datagram, and returns one slot per message:
   * undefined on success, the NetlinkError otherwise. Never rejects for a per-message error.
   */
  async batch(msgs: NlMsg[], opts: { chunk?: number; window?: number } = {}): Promise<(NetlinkError | undefined)[]> {
    const chunk = Math.max(1, Math.min(opts.chunk ?? DEFAULT_CHUNK, 1000));
    const window = Math.max(1, opts.window ?? 4);
    const results: (NetlinkError | undefined)[] = new Array(msgs.length).fill(undefined);
    const chunks: number[] = [];
    for (let i = 0; i < msgs.length; i += chunk) chunks.push(i);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) {
        const from = chunks[next++];
        await this.sendChunk(msgs, from, Math.min(msgs.length, from + chunk), results);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, chunks.length) }, worker));
    return results;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new NetlinkError({ errno: 0, name: 'ECLOSED', op: 'close', target: this.protocol }));
    this.raw.close();
  }

  private nextSeq(): number {
    this.seq = (this.seq % 0x7ffffffe) + 1;
    return this.seq;
  }

  private start(msg: NlMsg, dump: boolean): Promise<NetlinkMessage[]> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new NetlinkError({ errno: 0, name: 'ECLOSED', op: msg.op, target: msg.target }));
      const seq = this.nextSeq();
      const timer = setTimeout(
        () => {
          this.waiters.delete(seq);
          this.settled();
          reject(new NetlinkError({ errno: 0, name: 'ETIMEDOUT', op: msg.op, target: msg.target }));
        },
        dump ? this.timeoutMs * 8 : this.timeoutMs,
      ); // a 100k-entry dump takes seconds
      this.raw.ref();
      this.waiters.set(seq, {
        msg,
        dump,
        silent: false,
        replies: [],
        done: (err, replies) => {
          clearTimeout(timer);
          this.settled();
          if (err) reject(err);
          else resolve(replies);
        },
      });
      const flags = (msg.flags ?? 0) | NLM_F.REQUEST | NLM_F.ACK;
      this.send([Buffer.concat(this.frame(msg, flags, seq))], [seq]);
    });
  }

  private sendChunk(msgs: NlMsg[], from: number, to: number, results: (NetlinkError | undefined)[]): Promise<void> {
    return new Promise((resolve) => {
      const bufs: Uint8Array[] = [];
      const seqs: number[] = [];
      let pending = to - from;
      // no answer to the last message: every message still waiting has an unknown outcome
      const timer = setTimeout(() => {
        for (let i = 0; i < seqs.length; i++) {
          const w = this.waiters.get(seqs[i]);
          if (w) w.done(new NetlinkError({ errno: 0, name: 'ETIMEDOUT', op: w.msg.op, target: w.msg.target }), []);
        }
      }, this.timeoutMs);
      this.raw.ref();
      const lastSeqRef = { seq: 0 };
      for (let i = from; i < to; i++) {
        const seq = this.nextSeq();
        const last = i === to - 1;
        const idx = i;
        this.waiters.set(seq, {
          msg: msgs[i],
          dump: false,
          silent: !last,
          replies: [],
          done: (err) => {
            results[idx] = err;
            // the last message's answer closes the chunk: all earlier errors have arrived
            if (seq === lastSeqRef.seq) {
              for (const s of seqs) this.waiters.delete(s);
              pending = 0;
            } else if (err) {
              this.waiters.delete(seq);
              pending--;
            }
            if (pending === 0 || seq === lastSeqRef.seq) {
              clearTimeout(timer);
              this.settled();
              resolve();
            }
          },
        });
        seqs.push(seq);
        const flags = (msgs[i].flags ?? 0) | NLM_F.REQUEST | (last ? NLM_F.ACK : 0);
        for (const b of this.frame(msgs[i], flags, seq)) bufs.push(b);
        if (last) lastSeqRef.seq = seq;
      }
      // one Buffer per datagram: >1,024 iovecs fail with EMSGSIZE
      this.send([Buffer.concat(bufs)], seqs);
    });
  }

  private frame(msg: NlMsg, flags: number, seq: number): Uint8Array[] {
    const bufs = formatMessage({ type: msg.type, flags, seq, port: this.port, data: msg.payload });
    // The library does not pad a message whose last attribute is unaligned (e.g. a 6-byte
    // lladdr); packed back to back, the next message would be misread and the kernel would
    // silently drop the rest of the datagram. Pad every message to NLMSG_ALIGNTO (4).
    const len = bufs.reduce((n, b) => n + b.length, 0);
    if (len % 4) bufs.push(Buffer.alloc(4 - (len % 4)));
    return bufs;
  }

  private send(bufs: Buffer[], seqs: number[]): void {
    this.raw.send(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs), { port: 0 }, (err) => {
      if (!err) return;
      for (const s of seqs) {
        const w = this.waiters.get(s);
        if (!w) continue;
        this.waiters.delete(s);
        w.done(
          new NetlinkError({ errno: err.errno ?? 0, name: err.code, op: w.msg.op, target: w.msg.target, detail: 'send', cause: err }),
          [],
        );
      }
    });
  }

  private settled(): void {
    if (this.waiters.size === 0 && this.eventListeners.length === 0 && !this.closed) this.raw.unref();
  }

  private receive(buf: Buffer): void {
    let msgs: NetlinkMessage[];
    try {
      msgs = parseMessages(buf);
    } catch {
      return; // malformed datagram: nothing we can attribute it to
    }
    const events: NetlinkMessage[] = [];
    for (const m of msgs) {
      const w = m.seq !== 0 && m.port === this.port ? this.waiters.get(m.seq) : undefined;
      if (!w) {
        if (m.type !== NLMSG.ERROR && m.type !== NLMSG.DONE) events.push(m);
        continue;
      }
      this.answer(m, w);
    }
    if (events.length) for (const fn of this.eventListeners) fn(events);
  }

  private answer(m: NetlinkMessage, w: Waiter): void {
    if (m.type === NLMSG.ERROR) {
      const errno = m.data.readInt32LE(0);
      if (!w.dump || errno !== 0) {
        this.waiters.delete(m.seq);
        w.done(errno === 0 ? undefined : new NetlinkError({ errno, op: w.msg.op, target: w.msg.target }), w.replies);
      }
      return;
    }
    if (m.type === NLMSG.DONE) {
      const errno = m.data.length >= 4 ? m.data.readInt32LE(0) : 0;
      this.waiters.delete(m.seq);
      w.done(errno < 0 ? new NetlinkError({ errno, op: w.msg.op, target: w.msg.target }) : undefined, w.replies);
      return;
    }
    w.replies.push(m);
  }

  private failAll(e: NetlinkError): void {
    const ws = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of ws) w.done(new NetlinkError({ errno: e.errnoNumber, name: e.errno, op: w.msg.op, target: w.msg.target, cause: e }), []);
    for (const fn of this.errorListeners) fn(e);
  }
}
