import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { handleDns, type DnsContext } from './handle.js';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * Every reply goes to rinfo.address, an IPv4 literal: hand it back at once. dns.lookup would
 * test it against a regex and defer the send by a tick, per packet. A name (--listen) still
 * resolves through dns.lookup.
 */
const literalLookup = (host: string, family: dns.LookupOneOptions | number, cb: LookupCallback): void => {
  if (isIPv4(host)) cb(null, host, 4);
  else dns.lookup(host, typeof family === 'number' ? { family } : family, cb);
};

/** The DNS UDP socket; in a cluster worker its bind shares one handle with the other workers. */
export function createUdpSocket(reuseAddr: boolean): dgram.Socket {
  return dgram.createSocket({ type: 'udp4', reuseAddr, recvBufferSize: 4 << 20, lookup: literalLookup });
}

export function bindUdp(udp: dgram.Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.off('error', reject);
      resolve();
    });
  });
}

/** Answers every datagram; socket errors are logged, never fatal. */
export function serveUdp(ctx: DnsContext, log: Logger, udp: dgram.Socket): void {
  udp.on('error', (err) => log.error({ err, op: 'dns udp' }, 'dns udp socket error'));
  // one callback for every send, not a closure per packet (the error names the address and port)
  const sent = (err: Error | null): void => void (err && log.warn({ err }, 'dns udp send failed'));
  udp.on('message', (msg, rinfo) => {
    const r = handleDns(ctx, msg, 'udp');
    if (r instanceof Promise)
      r.then(
        (reply) => reply && udp.send(reply, rinfo.port, rinfo.address, sent),
        (err) => log.error({ err }, 'dns forward failed'),
      );
    else if (r) udp.send(r, rinfo.port, rinfo.address, sent);
  });
}
