import type { Logger } from 'pino';
import type { InfraConfig } from '../protocol/infra-config.js';
import { loadConfig } from './config.js';
import { buildDhcpIndex, type DhcpIndex } from './dhcp/bindings.js';
import { startDhcpServer } from './dhcp/server.js';
import { startDnsServer } from './dns/server.js';
import { startUdpWorkers } from './dns/workers.js';
import { buildZone, type ZoneIndex } from './dns/zone.js';
import { Counters } from './metrics.js';
import { watchConfig } from './watcher.js';

export interface InfraOptions {
  configPath: string;
  dnsPort: number;
  dhcpPort: number;
  dhcpClientPort?: number;
  /** DNS listen address; DHCP always listens on 0.0.0.0 (broadcasts). */
  listen: string;
  /** 0 disables DHCP (DNS-only runs, benches). */
  dhcp?: boolean;
  forwardTimeoutMs?: number;
  /** Processes that serve DNS over UDP (dns/workers.ts); 0 (default): this process does. */
  dnsWorkers?: number;
  log: Logger;
}

export interface Infra {
  counters: Counters;
  dnsPort: number;
  dhcpPort: number | null;
  close(): Promise<void>;
}

interface Compiled {
  zone: ZoneIndex;
  dhcp: DhcpIndex;
}

/** A --no-dhcp network's server answers DNS only: its DHCP index holds no binding, so no client gets an answer. */
function compile(config: InfraConfig): Compiled {
  return { zone: buildZone(config), dhcp: buildDhcpIndex(config.dhcp === false ? { ...config, bindings: [] } : config) };
}

/**
 * Runs DNS and DHCP from one config file. A reload compiles new immutable
 * indexes and swaps one reference: packets in flight finish on the old one.
 */
export async function startInfra(opts: InfraOptions): Promise<Infra> {
  const counters = new Counters();
  const first = await loadConfig(opts.configPath);
  let current = compile(first.config);
  const log = opts.log.child({ tenant: first.config.network.tenant, network: first.config.network.name });
  const forwardTimeoutMs = opts.forwardTimeoutMs ?? 2000;
  const dnsWorkers = opts.dnsWorkers ?? 0;
  const dns = await startDnsServer({
    host: opts.listen,
    port: opts.dnsPort,
    zone: () => current.zone,
    counters,
    forwardTimeoutMs,
    log,
    udp: dnsWorkers === 0,
  });
  const workers =
    dnsWorkers === 0
      ? null
      : await startUdpWorkers({
          n: dnsWorkers,
          host: opts.listen,
          port: dns.port,
          config: first.config,
          forwardTimeoutMs,
          counters,
          log,
        }).catch(async (e: unknown) => {
          await dns.close();
          throw e;
        });
  const dhcp =
    opts.dhcp === false
      ? null
      : await startDhcpServer({
          index: () => current.dhcp,
          counters,
          log,
          ports: { server: opts.dhcpPort, client: opts.dhcpClientPort ?? 68 },
        });
  const watcher = watchConfig({
    file: opts.configPath,
    initialText: first.text,
    log,
    onConfig: (config) => {
      current = compile(config);
      workers?.reload(config);
      counters.inc('config_reloads');
    },
  });
  return {
    counters,
    dnsPort: dns.port,
    dhcpPort: dhcp?.port ?? null,
    close: async () => {
      watcher.close();
      await Promise.all([dns.close(), workers?.close(), dhcp?.close()]);
    },
  };
}
