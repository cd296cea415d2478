import cluster from 'node:cluster';
import { pino } from 'pino';
import { Counters } from '../metrics.js';
import { DEFAULT_MAX_FORWARDS, ForwardGate } from './handle.js';
import { bindUdp, createUdpSocket, serveUdp } from './udp.js';
import type { FromWorker, ToWorker } from './workers.js';
import { buildZone, type ZoneIndex } from './zone.js';

/**
 * A DNS UDP worker process (forked by dns/workers.ts): answers from the zone of the config its
 * primary sends, on the socket handle the primary shares, and reports its counts every second.
 */
const COUNTS_MS = 1000;
const send = (m: FromWorker): void => void (process.connected && process.send?.(m));

if (cluster.isWorker) {
  let zone: ZoneIndex | null = null;
  const counters = new Counters();
  let log = pino({ base: { svc: 'freight-infra', dnsWorker: process.pid } });
  // never die on a stray async error: log it and keep serving
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('message', (m: ToWorker) => {
    try {
      zone = buildZone(m.config);
    } catch (err) {
      log.error({ err }, 'dns worker: config not compiled, the previous zone stays');
      if (m.t === 'start') send({ t: 'failed', error: String(err) });
      return;
    }
    if (m.t !== 'start') return;
    log = pino({ level: m.logLevel, base: { svc: 'freight-infra', dnsWorker: process.pid } });
    const udp = createUdpSocket(true);
    // the forward bound is per process: n workers hold at most n × DEFAULT_MAX_FORWARDS
    const forwards = new ForwardGate(DEFAULT_MAX_FORWARDS);
    const ctx = { zone: () => zone as ZoneIndex, counters, forwardTimeoutMs: m.forwardTimeoutMs, forwards };
    bindUdp(udp, m.port, m.host).then(
      () => {
        serveUdp(ctx, log, udp);
        setInterval(() => send({ t: 'counts', delta: counters.drain() }), COUNTS_MS).unref();
        send({ t: 'ready' });
      },
      (err: Error) => send({ t: 'failed', error: err.message }),
    );
  });
  send({ t: 'up' });
}
