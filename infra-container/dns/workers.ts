import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { InfraConfig } from '../../protocol/infra-config.js';
import type { Counters, CountsDelta } from '../metrics.js';

/** Primary → worker. */
export type ToWorker =
  | { t: 'start'; host: string; port: number; forwardTimeoutMs: number; logLevel: string; config: InfraConfig }
  | { t: 'config'; config: InfraConfig };
/** Worker → primary. */
export type FromWorker = { t: 'up' } | { t: 'ready' } | { t: 'failed'; error: string } | { t: 'counts'; delta: CountsDelta };

export interface UdpWorkersOptions {
  n: number;
  host: string;
  port: number;
  config: InfraConfig;
  forwardTimeoutMs: number;
  counters: Counters;
  log: Logger;
}
export interface UdpWorkers {
  reload(config: InfraConfig): void;
  close(): Promise<void>;
}

const RESPAWN_MS = 1000;
// the worker entry beside this file: .js from dist, .ts under tsx (tests)
const ENTRY = fileURLToPath(new URL(`./udp-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * Forks `n` processes that serve DNS over UDP on one socket: Node's cluster binds it in this
 * process and hands the same handle to each worker (Node 20 has no reusePort for dgram), and
 * the kernel gives each datagram to whichever worker reads first. This process keeps TCP,
 * DHCP, the config watch and the metrics: it sends each worker the config, and each worker
 * sends back its counts every second. A worker that dies is forked again.
 */
export async function startUdpWorkers(o: UdpWorkersOptions): Promise<UdpWorkers> {
  let config = o.config;
  let closing = false;
  const workers = new Set<Worker>();
  cluster.setupPrimary({ exec: ENTRY, args: [], execArgv: ENTRY.endsWith('.ts') ? ['--import', 'tsx'] : process.execArgv });
  const start: Omit<Extract<ToWorker, { t: 'start' }>, 'config'> = {
    t: 'start',
    host: o.host,
    port: o.port,
    forwardTimeoutMs: o.forwardTimeoutMs,
    logLevel: o.log.level,
  };

  const fork = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork();
      workers.add(w);
      w.on('message', (m: FromWorker) => {
        // 'up' once its listener is on: a message sent at 'online' can arrive before the module ran
        if (m.t === 'up') w.send({ ...start, config } satisfies ToWorker);
        else if (m.t === 'ready') resolve();
        else if (m.t === 'failed') reject(new Error(`dns worker: ${m.error}`));
        else if (m.t === 'counts') o.counters.merge(m.delta);
      });
      w.on('exit', (code, signal) => {
        workers.delete(w);
        reject(new Error(`dns worker exited (${signal ?? code}) before serving`));
        if (closing) return;
        o.log.error({ code, signal, pid: w.process.pid }, 'dns worker exited; forking another');
        setTimeout(
          () => void (closing || fork().catch((err: Error) => o.log.error({ err }, 'dns worker did not start'))),
          RESPAWN_MS,
        ).unref();
      });
    });

  try {
    await Promise.all(Array.from({ length: o.n }, fork));
  } catch (e) {
    closing = true;
    for (const w of workers) w.kill();
    throw e;
  }
  o.log.info({ workers: o.n, port: o.port }, 'dns udp workers serving');
  return {
    reload(next) {
      config = next;
      for (const w of workers) if (w.isConnected()) w.send({ t: 'config', config } satisfies ToWorker);
    },
    close: async () => {
      closing = true;
      await Promise.all(
        [...workers].map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once('exit', () => resolve());
              w.kill();
            }),
        ),
      );
    },
  };
}
