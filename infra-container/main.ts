#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { startInfra } from './app.js';
import { METRICS_SOCKET, serveMetricsSocket } from './metrics-socket.js';

/** freight-infra: DHCP + DNS for one tenant network, from the config file the agent writes. */
const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port 0-65535');
  return n;
};

const count = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new InvalidArgumentError('a count 0-64');
  return n;
};

const program = new Command('freight-infra')
  .requiredOption('--config <file>', 'InfraConfig JSON file (reloaded on change)')
  .option('--dns-port <port>', 'DNS port (UDP and TCP)', port, 53)
  .option('--dhcp-port <port>', 'DHCP server port', port, 67)
  .option('--dhcp-client-port <port>', 'port replies are sent to', port, 68)
  .option('--no-dhcp', 'serve DNS only')
  .option('--listen <ip>', 'DNS listen address', '0.0.0.0')
  .option('--dns-workers <n>', 'processes serving DNS over UDP on one shared socket (0: this process)', count, 0)
  .option('--log-level <level>', 'pino level', 'info')
  .option(
    '--metrics-socket <path>',
    'serve Prometheus /metrics on this unix socket ("" = off); the default is in the directory the agent binds from the node',
    METRICS_SOCKET,
  )
  .parse();

const o = program.opts<{
  config: string;
  dnsPort: number;
  dhcpPort: number;
  dhcpClientPort: number;
  dhcp: boolean;
  listen: string;
  dnsWorkers: number;
  logLevel: string;
  metricsSocket: string;
}>();
const log = pino({ level: o.logLevel, base: { svc: 'freight-infra' } });

// never die on a stray async error: log it and keep serving
process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));

startInfra({
  configPath: o.config,
  dnsPort: o.dnsPort,
  dhcpPort: o.dhcpPort,
  dhcpClientPort: o.dhcpClientPort,
  dhcp: o.dhcp,
  listen: o.listen,
  dnsWorkers: o.dnsWorkers,
  log,
}).then(
  (infra) => {
    log.info({ dnsPort: infra.dnsPort, dhcpPort: infra.dhcpPort }, 'freight-infra ready');
    process.on('SIGUSR1', () => log.info({ metrics: infra.counters.snapshot() }, 'metrics'));
    serveMetricsSocket(o.metricsSocket, infra.counters.registry).catch((err: Error) =>
      log.warn({ err, socket: o.metricsSocket }, 'metrics socket not served'),
    );
    const stop = (): void => {
      log.info('stopping');
      void infra.close().finally(() => process.exit(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  },
  (err: Error) => {
    log.fatal({ err }, 'freight-infra cannot start');
    process.exit(1);
  },
);
