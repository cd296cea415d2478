import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import { handleDns, type DnsContext } from './handle.js';

export interface DnsServerOptions extends DnsContext {
  host: string;
  port: number;
  log: Logger;
}
export interface DnsServer {
  port: number;
  close(): Promise<void>;
}

const TCP_IDLE_MS = 10_000;
const TCP_MAX_BUFFER = 2 * 65_537;

/**
 * UDP and TCP listeners on the same port; socket errors are logged, never
 * fatal. Port 0 (tests): a free port for both, retried on a collision.
 */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const conns = new Set<net.Socket>();
  for (let attempt = 0; ; attempt++) {
    const tcp = net.createServer((conn) => serveTcp(opts, conn));
    // close() must not wait for idle clients
    tcp.on('connection', (conn) => {
      conns.add(conn);
      conn.on('close', () => conns.delete(conn));
    });
    const udp = dgram.createSocket({ type: 'udp4', reuseAddr: opts.port !== 0, recvBufferSize: 4 << 20 });
    try {
      await listenTcp(tcp, opts.port, opts.host);
      const port = (tcp.address() as net.AddressInfo).port;
      await bindUdp(udp, port, opts.host);
      return serve(opts, udp, tcp, port, conns);
    } catch (e) {
      tcp.close();
      udp.close();
      if (opts.port !== 0 || attempt >= 10 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    }
  }
}

function listenTcp(tcp: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
}

function bindUdp(udp: dgram.Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.off('error', reject);
      resolve();
    });
  });
}

function serve(opts: DnsServerOptions, udp: dgram.Socket, tcp: net.Server, port: number, conns: Set<net.Socket>): DnsServer {
  udp.on('error', (err) => opts.log.error({ err, op: 'dns udp' }, 'dns udp socket error'));
  tcp.on('error', (err) => opts.log.error({ err, op: 'dns tcp' }, 'dns tcp server error'));
  udp.on('message', (msg, rinfo) => {
    const send = (reply: Buffer | null): void => {
      if (reply) udp.send(reply, rinfo.port, rinfo.address, (err) => err && opts.log.warn({ err: err.message, to: rinfo.address }, 'dns udp send failed'));
    };
    const r = handleDns(opts, msg, 'udp');
    if (r instanceof Promise) r.then(send, (err) => opts.log.error({ err }, 'dns forward failed'));
    else send(r);
  });
  opts.log.info({ host: opts.host, port }, 'dns listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        udp.close();
        tcp.close(() => resolve());
        for (const c of conns) c.destroy();
      }),
  };
}

/** RFC 7766 framing: 2-byte length, several queries per connection, answered in order. */
function serveTcp(opts: DnsServerOptions, conn: net.Socket): void {
  opts.counters.inc('dns_tcp_connections');
  let pending = Buffer.alloc(0);
  let chain: Promise<void> = Promise.resolve();
  conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
  conn.on('error', () => conn.destroy());
  conn.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    if (pending.length > TCP_MAX_BUFFER) return void conn.destroy();
    while (pending.length >= 2) {
      const len = pending.readUInt16BE(0);
      if (pending.length < 2 + len) break;
      const msg = pending.subarray(2, 2 + len);
      pending = pending.subarray(2 + len);
      const r = handleDns(opts, Buffer.from(msg), 'tcp');
      chain = chain.then(async () => {
        const reply = await r;
        if (!reply || conn.destroyed) return;
        const frame = Buffer.alloc(2);
        frame.writeUInt16BE(reply.length);
        conn.write(Buffer.concat([frame, reply]));
      }).catch((err) => opts.log.warn({ err }, 'dns tcp reply failed'));
    }
  });
}
