#!/usr/bin/env node
import { Command } from 'commander';
import { pino } from 'pino';
import { migrate, openDb } from './store/db.js';
import { serve } from './serve.js';
import { resolveDepsFromEnv } from './images/resolve.js';
import { parseCidr } from '../images/net-policy.js';
import { parseTrustProxy } from './limits.js';

const dbOptions = (cmd: Command) =>
  cmd
    .option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL); without it the embedded PGlite database is used')
    .option('--data-dir <dir>', 'PGlite data directory', './.freight/db');

const dbOf = (o: { databaseUrl?: string; dataDir?: string }) => ({
  databaseUrl: o.databaseUrl ?? process.env.DATABASE_URL,
  dataDir: o.dataDir,
});

async function main(argv: string[]): Promise<void> {
  const log = pino({ base: { svc: 'freight-controller' } });
  const program = new Command('freight-controller').description('Freight SDN controller').showHelpAfterError();
  dbOptions(program.command('migrate').description('apply schema.sql (idempotent)')).action(async (o) => {
    const db = await openDb(dbOf(o));
    try {
      const v = await migrate(db);
      log.info({ database: db.kind, schema: v }, 'migrated');
    } finally {
      await db.close();
    }
  });
  dbOptions(program.command('serve').description('serve the REST API and the agent stream'))
    .option('--listen <addr>', 'HOST:PORT to listen on', '127.0.0.1:7400')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--ipsec-rotate-hours <hours>', 'rotate ipsec keys after this many hours', (v: string) => {
      const h = Number(v);
      if (!Number.isFinite(h) || h <= 0) throw new Error(`--ipsec-rotate-hours ${v}: expected a positive number`);
      return h;
    }, 24)
    .option('--repo-allow-cidr <cidr>', 'let image repositories resolve to this non-global range (repeatable; env FREIGHT_REPO_ALLOW_CIDR, comma-separated)', (v: string, acc: string[] = []) => {
      parseCidr(v);
      return [...acc, v];
    })
    .option('--max-repos-per-tenant <n>', 'image repositories a tenant may register (env FREIGHT_MAX_REPOS_PER_TENANT, default 16)', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--max-repos-per-tenant ${v}: expected a positive integer`);
      return Number(v);
    })
    .option('--trust-proxy <addrs>', 'comma-separated proxy addresses/CIDRs whose X-Forwarded-For names the client (default: none)', parseTrustProxy)
    .option('--max-connections <n>', 'concurrent HTTP connections at most, agent streams included', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--max-connections ${v}: expected a positive integer`);
      return Number(v);
    })
    .action(async (o) => {
      const env = resolveDepsFromEnv();
      const images = { ...env, allowCidrs: [...(env.allowCidrs ?? []), ...(o.repoAllowCidr ?? [])], maxReposPerTenant: o.maxReposPerTenant ?? env.maxReposPerTenant };
      const { stop } = await serve(
        { ...dbOf(o), listen: o.listen, tlsCert: o.tlsCert, tlsKey: o.tlsKey, ipsecRotateHours: o.ipsecRotateHours, images, trustProxy: o.trustProxy, maxConnections: o.maxConnections, adminToken: process.env.FREIGHT_ADMIN_TOKEN, print: (l) => process.stdout.write(`${l}\n`) },
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
