#!/usr/bin/env node
import { Command, Option } from 'commander';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Agent } from './agent.js';
import { serveMetrics } from '../lib/metrics.js';
import { watchStalls } from '../lib/stall.js';
import { imageCommand } from './runtime/image-cli.js';
import { DEFAULT_STATE_DIR } from './runtime/paths.js';
import { resolvePin, resolveTarget } from './target.js';
import { parseMappings } from './kernel/uplink.js';

/** dist/node-agent/main.js or node-agent/main.ts → the project root two or one levels up. */
function projectRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return here.includes(`${path.sep}dist${path.sep}`) || here.endsWith(`${path.sep}dist`)
    ? path.resolve(here, '../..')
    : path.resolve(here, '..');
}

/** HOST:PORT (or a bare PORT on 127.0.0.1) of --metrics. */
function metricsListen(addr: string): { host: string; port: number } {
  const [host, port] = addr.includes(':')
    ? [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)]
    : ['127.0.0.1', addr];
  return { host: host.replace(/^\[|\]$/g, ''), port: Number(port) };
}

async function run(o: Record<string, string | undefined>, physical: string[]): Promise<void> {
  parseMappings(physical); // a typo fails here, before anything connects
  const log = pino({ base: { svc: 'freight-agent', node: o.node } });
  watchStalls(log);
  const need = (k: string) => {
    const v = o[k];
    if (!v) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
    return v;
  };
  // before anything touches the kernel: where to connect, and that it is the controller we were told
  const target = resolveTarget({
    join: o.join,
    controller: o.controller,
    token: o.token,
    ca: o.ca,
    caFingerprint: o.caFingerprint,
    insecure: Boolean(o.insecure),
  });
  const ca = await resolvePin(
    target,
    (err, delay) => log.warn({ err, delay }, 'controller unreachable: retrying'),
    o.stateDir ?? DEFAULT_STATE_DIR,
  );
  log.info(
    {
      controller: target.controller,
      controllers: target.controllers,
      trust: target.trust.kind,
      ca: target.trust.kind === 'pin' ? target.trust.fingerprint : undefined,
    },
    'controller trust resolved',
  );
  const agent = await Agent.start({
    controller: target.controller,
    controllers: target.controllers,
    token: target.token,
    tls: ca ? { ca } : target.trust.kind === 'ca' ? { ca: target.trust.pem } : undefined,
    allowPlaintext: target.trust.kind === 'insecure',
    node: need('node'),
    underlayIp: need('underlayIp'),
    underlayMtu: Number(o.underlayMtu ?? 1500),
    stateDir: o.stateDir ?? DEFAULT_STATE_DIR,
    projectDir: o.projectDir ?? projectRoot(),
    auditMs: o.auditMs ? Number(o.auditMs) : undefined,
    heartbeatMs: o.heartbeatMs ? Number(o.heartbeatMs) : undefined,
    maxQueuedBytes: o.maxQueuedMib ? Math.round(Number(o.maxQueuedMib) * 1024 * 1024) : undefined,
    dnsUpstreams: o.dnsUpstream ? o.dnsUpstream.split(',').filter(Boolean) : [],
    physicalNetworks: parseMappings(physical),
    imageGcGraceMs: o.imageGcGrace !== undefined ? seconds(o.imageGcGrace, '--image-gc-grace') : undefined,
    egressDeny: egressDeny(o.egressDeny),
    log,
  });
  if (o.metrics) await serveMetrics(agent.registry, metricsListen(o.metrics));
  const stop = (sig: string) => {
    log.info({ signal: sig }, 'stopping (containers and kernel state stay)');
    void agent.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // a peer's bad message is handled where it arrives; anything that still escapes is logged, not fatal
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
}

const env = (name: string) => process.env[name];
const program = new Command('freight-agent')
  .description('Freight node agent: programs the kernel and runs containers as the controller says')
  .addOption(
    new Option('--join <string>', 'join string from `freightctl token create --node NAME`: controller URL, token, CA pin').default(
      env('FREIGHT_JOIN'),
    ),
  )
  .addOption(
    new Option(
      '--controller <urls>',
      'controller URL, e.g. https://10.0.0.1:7400 (instead of --join); several, comma-separated: replicas the stream rotates through',
    ).default(env('FREIGHT_CONTROLLER')),
  )
  .addOption(new Option('--token <token>', 'node token (instead of --join)').default(env('FREIGHT_NODE_TOKEN')))
  .addOption(new Option('--ca <file>', 'CA certificate the controller must chain to (instead of a pin)').default(env('FREIGHT_CA')))
  .addOption(
    new Option('--ca-fingerprint <sha256>', 'pin of the controller CA, sha256:HEX (the join string carries one)').default(
      env('FREIGHT_CA_FINGERPRINT'),
    ),
  )
  .addOption(
    new Option(
      '--insecure',
      'allow a plaintext http:// controller (tests only: the token crosses in clear, no ipsec keys are sent)',
    ).default(env('FREIGHT_INSECURE') === '1' ? true : undefined),
  )
  .addOption(new Option('--node <name>', "this node's name").default(env('FREIGHT_NODE')))
  .addOption(new Option('--underlay-ip <ip>', "this node's underlay (VTEP) address").default(env('FREIGHT_UNDERLAY_IP')))
  .addOption(new Option('--underlay-mtu <n>', 'MTU of the underlay').default(env('FREIGHT_UNDERLAY_MTU') ?? '1500'))
  .addOption(
    new Option('--state-dir <dir>', 'images, containers, the last applied view').default(env('FREIGHT_STATE_DIR') ?? DEFAULT_STATE_DIR),
  )
  .option('--project-dir <dir>', 'Freight install bound into infra containers (default: this install)')
  .option('--audit-ms <n>', 'drift audit interval (default 10000)')
  .option('--heartbeat-ms <n>', 'heartbeat interval (default 2000)')
  .option('--max-queued-mib <n>', 'inbound stream queue bound; past it the agent resyncs by snapshot (default 64)')
  .option('--dns-upstream <ips>', 'comma-separated DNS servers the infra containers forward other names to')
  .option('--metrics <addr>', 'serve Prometheus /metrics on HOST:PORT')
  .addOption(
    new Option(
      '--physical-network <NAME=IFACE>',
      'map a physical network to a dedicated host interface (repeatable; env FREIGHT_PHYSICAL_NETWORKS, space- or comma-separated)',
    )
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .default(undefined),
  )
  .addOption(
    new Option('--image-gc-grace <seconds>', 'remove image versions no container on the node uses after this long (default 3600)').default(
      env('FREIGHT_IMAGE_GC_GRACE'),
    ),
  )
  .option(
    '--egress-deny <cidrs>',
    'comma-separated addresses/CIDRs routed tenant traffic never reaches (the database, the management network); ' +
      'the controller, this node and the nodes in its view are always denied',
  )
  .showHelpAfterError()
  // options before a subcommand belong to the agent; `image import … --state-dir` to the subcommand
  .enablePositionalOptions()
  .action((o: Record<string, string | undefined> & { physicalNetwork?: string[] }) => {
    const { physicalNetwork, ...rest } = o;
    const fromEnv = (env('FREIGHT_PHYSICAL_NETWORKS') ?? '').split(/[\s,]+/).filter(Boolean);
    return run(rest, physicalNetwork ?? fromEnv);
  });

/** A non-negative number of seconds → ms; anything else fails the start with the option's name. */
function seconds(v: string, opt: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n)) throw new Error(`${opt} ${JSON.stringify(v)}: expected seconds`);
  return Math.round(n * 1000);
}

program.addCommand(imageCommand());

function egressDeny(v: string | undefined): string[] {
  const list = (v ?? '').split(',').filter(Boolean);
  for (const c of list)
    if (!/^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(c)) throw new Error(`--egress-deny: ${c} is not an IPv4 address or CIDR`);
  return list;
}
program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`freight-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
