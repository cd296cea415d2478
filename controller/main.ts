#!/usr/bin/env node
import { Command } from 'commander';
import path from 'node:path';
import { pino } from 'pino';
import { migrate, openDb } from './store/db.js';
import { serve } from './serve.js';
import { watchStalls } from '../lib/stall.js';
import { resolveDepsFromEnv } from './images/resolve.js';
import { parseCidr } from '../images/net-policy.js';
import { parseTrustProxy } from './limits.js';
import { adminTokenStatus, rotateAdminToken } from './bootstrap.js';
import { ensurePrivateDir } from './secrets/files.js';

// everything the controller writes (state directory, TLS keys, PGlite files) is its own only
process.umask(0o077);

interface DbOpts {
  databaseUrl?: string;
  dataDir?: string;
  stateDir: string;
}

const dbOptions = (cmd: Command) =>
  cmd
    .option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL); without it the embedded PGlite database is used')
    .option(
      '--state-dir <dir>',
      'state directory: TLS CA and certificate, admin token file, master key, embedded database (env FREIGHT_STATE_DIR)',
      process.env.FREIGHT_STATE_DIR ?? './.freight',
    )
    .option('--data-dir <dir>', 'PGlite data directory (default: STATE_DIR/db)');

const dbOf = (o: DbOpts) => ({
  databaseUrl: o.databaseUrl ?? process.env.DATABASE_URL,
  dataDir: o.dataDir ?? path.join(o.stateDir, 'db'),
  stateDir: o.stateDir,
});

const collect = (v: string, prev: string[]) => [...prev, v];
const positive = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} ${v}: expected a positive number`);
  return n;
};

async function main(argv: string[]): Promise<void> {
  const log = pino({ base: { svc: 'freight-controller' } });
  const print = (l: string) => void process.stdout.write(`${l}\n`);
  const program = new Command('freight-controller').description('Freight SDN controller').showHelpAfterError();
  dbOptions(program.command('migrate').description('apply schema.sql (idempotent)')).action(async (o: DbOpts) => {
    await ensurePrivateDir(o.stateDir, 'state directory');
    const db = await openDb(dbOf(o));
    try {
      const v = await migrate(db);
      log.info({ database: db.kind, schema: v }, 'migrated');
    } finally {
      await db.close();
    }
  });
  dbOptions(
    program
      .command('admin-token')
      .description('show where the bootstrap admin token is; --rotate replaces it (stop a PGlite controller first)'),
  )
    .option('--rotate', 'write a new admin token to STATE_DIR/admin-token and revoke the one it held')
    .action(async (o: DbOpts & { rotate?: boolean }) => {
      await ensurePrivateDir(o.stateDir, 'state directory');
      const db = await openDb(dbOf(o));
      try {
        await migrate(db);
        if (o.rotate) {
          const r = await rotateAdminToken(db, o.stateDir);
          print(`new admin token written to ${r.file} (mode 0600)${r.revokedPrevious ? '; the previous one is revoked' : ''}`);
        } else {
          const s = await adminTokenStatus(db, o.stateDir);
          print(
            `${s.file}: ${!s.present ? 'absent' : s.live ? 'live admin token' : 'revoked or unknown token (--rotate makes a new one)'}`,
          );
        }
      } finally {
        await db.close();
      }
    });
  dbOptions(program.command('serve').description('serve the REST API and the agent stream (TLS unless --insecure)'))
    .option('--listen <addr>', 'HOST:PORT to listen on', '127.0.0.1:7400')
    .option(
      '--tls-cert <file>',
      'serving certificate chain (PEM); the last certificate is the one agents pin. Default: own CA in STATE_DIR/tls',
    )
    .option('--tls-key <file>', 'its private key (PEM)')
    .option(
      '--tls-san <name>',
      'extra DNS name or IP address for the generated serving certificate (repeatable, or comma-separated)',
      collect,
      [],
    )
    .option('--insecure', 'plaintext HTTP/WebSocket: tokens in clear, no ipsec keys sent to agents (tests, loopback)')
    .option(
      '--ipsec-rotate-hours <hours>',
      'rotate ipsec keys after this many hours',
      (v: string) => {
        const h = Number(v);
        if (!Number.isFinite(h) || h <= 0) throw new Error(`--ipsec-rotate-hours ${v}: expected a positive number`);
        return h;
      },
      24,
    )
    .option(
      '--repo-allow-cidr <cidr>',
      'let image repositories resolve to this non-global range (repeatable; env FREIGHT_REPO_ALLOW_CIDR, comma-separated)',
      (v: string, acc: string[] = []) => {
        parseCidr(v);
        return [...acc, v];
      },
    )
    .option(
      '--max-repos-per-tenant <n>',
      'image repositories a tenant may register (env FREIGHT_MAX_REPOS_PER_TENANT, default 16)',
      (v: string) => {
        if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--max-repos-per-tenant ${v}: expected a positive integer`);
        return Number(v);
      },
    )
    .option(
      '--trust-proxy <addrs>',
      'comma-separated proxy addresses/CIDRs whose X-Forwarded-For names the client (default: none)',
      parseTrustProxy,
    )
    .option('--max-connections <n>', 'concurrent HTTP connections at most, agent streams included', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--max-connections ${v}: expected a positive integer`);
      return Number(v);
    })
    .option(
      '--agent-high-water <MiB>',
      'drop an agent stream whose unsent data exceeds this; it resyncs by snapshot',
      positive('--agent-high-water'),
      8,
    )
    .option(
      '--agent-ack-timeout <seconds>',
      'a node that has not acknowledged a revision sent this long ago is NotReady',
      positive('--agent-ack-timeout'),
      60,
    )
    .action(async (o) => {
      const env = resolveDepsFromEnv();
      const images = {
        ...env,
        allowCidrs: [...(env.allowCidrs ?? []), ...(o.repoAllowCidr ?? [])],
        maxReposPerTenant: o.maxReposPerTenant ?? env.maxReposPerTenant,
      };
      watchStalls(log);
      const { stop } = await serve(
        {
          ...dbOf(o),
          listen: o.listen,
          tlsCert: o.tlsCert,
          tlsKey: o.tlsKey,
          tlsSans: o.tlsSan,
          insecure: Boolean(o.insecure),
          ipsecRotateHours: o.ipsecRotateHours,
          images,
          trustProxy: o.trustProxy,
          maxConnections: o.maxConnections,
          agentHighWaterBytes: Math.round(o.agentHighWater * 1024 * 1024),
          agentAckTimeoutMs: Math.round(o.agentAckTimeout * 1000),
          adminToken: process.env.FREIGHT_ADMIN_TOKEN,
          print,
        },
        log,
      );
      const onSignal = (sig: string) => {
        log.info({ signal: sig }, 'shutting down');
        stop().then(
          () => process.exit(0),
          (err) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    });
  await program.parseAsync(argv);
}

main(process.argv).catch((err) => {
  process.stderr.write(`freight-controller: ${(err as Error).message}\n`);
  process.exit(1);
});
