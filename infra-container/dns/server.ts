import type dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import { DEFAULT_MAX_FORWARDS, ForwardGate, type DnsContext } from './handle.js';
import { ClientCounts, DEFAULT_TCP_LIMITS, serveTcp, type TcpLimits } from './tcp.js';
import { bindUdp, createUdpSocket, serveUdp } from './udp.js';

export interface DnsServerOptions extends DnsContext {
  host: string;
  port: number;
  log: Logger;
  /** TCP connection and backpressure limits (defaults: DEFAULT_TCP_LIMITS) */
  tcpLimits?: Partial<TcpLimits>;
  /** false: TCP only, worker processes serve UDP on the port (dns/workers.ts). Default true. */
  udp?: boolean;
}
export interface DnsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * UDP and TCP listeners on the same port; socket errors are logged, never
 * fatal. Port 0 (tests): a free port for both, retried on a collision.
 */
export async function startDnsServer(given: DnsServerOptions): Promise<DnsServer> {
  const opts = { ...given, forwards: given.forwards ?? new ForwardGate(DEFAULT_MAX_FORWARDS) };
  const conns = new Set<net.Socket>();
  const limits = { ...DEFAULT_TCP_LIMITS, ...opts.tcpLimits };
  const clients = new ClientCounts(limits.maxPerClient);
  for (let attempt = 0; ; attempt++) {
    const tcp = net.createServer((conn) => {
      const from = conn.remoteAddress ?? '';
      if (!clients.admit(from)) {
        opts.counters.inc('dns_tcp_refused');
        return void conn.destroy();
      }
      // close() must not wait for idle clients
      conns.add(conn);
      conn.on('close', () => {
        conns.delete(conn);
        clients.release(from);
      });
      serveTcp(opts, opts.log, conn, limits);
    });
    // beyond this the server closes new connections at once (Node counts them)
    tcp.maxConnections = limits.maxConnections;
    const udp = opts.udp === false ? null : createUdpSocket(opts.port !== 0);
    try {
      await listenTcp(tcp, opts.port, opts.host);
      const port = (tcp.address() as net.AddressInfo).port;
      if (udp) await bindUdp(udp, port, opts.host);
      return serve(opts, udp, tcp, port, conns);
    } catch (e) {
      tcp.close();
      udp?.close();
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

function serve(opts: DnsServerOptions, udp: dgram.Socket | null, tcp: net.Server, port: number, conns: Set<net.Socket>): DnsServer {
  if (udp) serveUdp(opts, opts.log, udp);
  tcp.on('error', (err) => opts.log.error({ err, op: 'dns tcp' }, 'dns tcp server error'));
  opts.log.info({ host: opts.host, port, udp: udp !== null }, 'dns listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        udp?.close();
        tcp.close(() => resolve());
        for (const c of conns) c.destroy();
      }),
  };
}
