import dgram from 'node:dgram';
import type { Logger } from 'pino';
import { since } from '../../lib/metrics.js';
import type { Counters } from '../metrics.js';
import type { DhcpIndex } from './bindings.js';
import { parseDhcp } from './codec.js';
import { MSG_NAME, OPT } from './options.js';
import { respond, type Ports, type Result } from './respond.js';

export interface DhcpServerOptions {
  index: () => DhcpIndex;
  counters: Counters;
  log: Logger;
  ports: Ports;
  now?: () => number;
}
export interface DhcpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Node's dgram cannot bind to a device (SO_BINDTODEVICE) nor choose the
 * outgoing interface of a broadcast (IP_PKTINFO). So: one socket on
 * 0.0.0.0:67 receives the broadcasts (fine in the infra container, whose only
 * interface is the tenant one), and a second socket on <server ip>:67 sends:
 * its bound source address makes the kernel route 255.255.255.255 out of the
 * interface owning that address, with no default route needed. It also
 * receives unicast renewals. If the server address is not (yet) configured
 * the receiving socket sends too, and binding is retried every 5 s.
 */
export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const now = opts.now ?? Date.now;
  const leases = { byMac: new Map<string, number>(), purgedAt: 0 };
  const recv = await open('0.0.0.0', opts.ports.server, opts);
  let sender: { ip: string; sock: dgram.Socket | null } = { ip: '', sock: null };

  const rebind = (ip: string): void => {
    sender.sock?.close();
    sender = { ip, sock: null };
    const current = sender;
    open(ip, opts.ports.server, opts).then(
      (sock) => {
        if (sender !== current) return void sock.close();
        current.sock = sock;
        sock.on('message', onMessage);
      },
      (err: Error) => {
        opts.log.warn({ err, ip }, 'dhcp: cannot bind the server address, broadcasting from 0.0.0.0 (retry in 5 s)');
        // the address may be configured after we start: let the next packet after 5 s try again
        setTimeout(() => sender === current && (current.ip = ''), 5000).unref();
      },
    );
  };

  const onMessage = (msg: Buffer): void => {
    const t0 = performance.now();
    try {
      opts.counters.inc('dhcp_packets');
      const index = opts.index();
      if (sender.ip !== index.serverIp) rebind(index.serverIp);
      let req;
      try {
        req = parseDhcp(msg);
      } catch (e) {
        opts.counters.inc('dhcp_malformed');
        opts.log.debug({ err: e }, 'dhcp: malformed packet dropped');
        return;
      }
      const r = respond(index, req, now(), opts.ports);
      record(opts, leases, r, req.options.get(OPT.MSG_TYPE)?.[0], now());
      if (r.reply) {
        const sock = sender.sock ?? recv;
        sock.send(r.reply.packet, r.reply.port, r.reply.address, (err) => {
          if (err) opts.log.warn({ err, to: r.reply?.address, mac: r.mac }, 'dhcp: send failed');
        });
        opts.counters.answered('dhcp', since(t0));
      }
    } catch (e) {
      opts.counters.inc('dhcp_errors');
      opts.log.error({ err: e }, 'dhcp: handler failed');
    }
  };
  recv.on('message', onMessage);
  rebind(opts.index().serverIp);
  opts.log.info({ port: recv.address().port }, 'dhcp listening');
  return {
    port: recv.address().port,
    close: async () => {
      recv.close();
      sender.sock?.close();
      sender = { ip: '', sock: null };
    },
  };
}

function open(host: string, port: number, opts: DhcpServerOptions): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 4 << 20 });
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      sock.on('error', (err) => opts.log.error({ err, host, port }, 'dhcp socket error'));
      sock.setBroadcast(true);
      resolve(sock);
    });
  });
}

/** Counts the outcome, tracks active leases (purged at most once a second), logs. */
function record(
  opts: DhcpServerOptions,
  leases: { byMac: Map<string, number>; purgedAt: number },
  r: Result,
  type: number | undefined,
  at: number,
): void {
  opts.counters.inc(`dhcp_${r.outcome}`);
  if (r.outcome === 'ack' && r.leaseUntil) leases.byMac.set(r.mac, r.leaseUntil);
  if (r.outcome === 'release') leases.byMac.delete(r.mac);
  if (at - leases.purgedAt > 1000) {
    leases.purgedAt = at;
    for (const [mac, until] of leases.byMac) if (until < at) leases.byMac.delete(mac);
  }
  opts.counters.set('dhcp_leases_active', leases.byMac.size);
  const level = r.outcome === 'nak' || r.outcome === 'decline' ? 'warn' : r.outcome === 'ack' || r.outcome === 'release' ? 'info' : 'debug';
  if (!opts.log.isLevelEnabled(level)) return; // the fields are built per packet otherwise
  const fields = { mac: r.mac, ip: r.ip, type: type === undefined ? undefined : MSG_NAME[type], reason: r.reason };
  opts.log[level](fields, `dhcp ${r.outcome}`);
}
