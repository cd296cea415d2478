import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { authenticate, ensureAdminToken } from './auth.js';
import { schedulePending } from './scheduler.js';
import { migrate, openDb, type OpenOptions } from './store/db.js';
import { startKeyManager } from './keys/manager.js';
import type { ResolveDeps } from './images/resolve.js';

export interface ServeOptions extends OpenOptions {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  adminToken?: string;
  /** Where the generated admin token is printed once. */
  print: (line: string) => void;
  scheduleEveryMs?: number;
  /** Period of ipsec key rotation (default 24 h). */
  ipsecRotateHours?: number;
  /** Repository fetch settings (`--repo-allow-cidr`, caps); default from the environment. */
  images?: ResolveDeps;
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For names the client; none by default. */
  trustProxy?: string[];
  /** Concurrent HTTP connections at most (agent streams included; default SERVER_LIMITS). */
  maxConnections?: number;
}

/** `host:port` or `[v6]:port` or `:port`. */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[3]) > 65535) throw new Error(`--listen ${addr}: expected HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

/** Migrates, ensures the admin token, serves. Resolves with the bound address and a stop function. */
export async function serve(opts: ServeOptions, log: Logger): Promise<{ address: string; stop: () => Promise<void> }> {
  const { host, port } = parseListen(opts.listen);
  const db = await openDb(opts);
  const version = await migrate(db);
  const generated = await ensureAdminToken(db, opts.adminToken);
  if (generated && !opts.adminToken) opts.print(`admin token (shown once): ${generated}`);
  if (!generated && opts.adminToken && !(await authenticate(db, `Bearer ${opts.adminToken}`).then((p) => p.kind === 'admin', () => false))) {
    log.warn('FREIGHT_ADMIN_TOKEN ignored: the database already has an admin token (it is only read at first start)');
  }
  const https = opts.tlsCert && opts.tlsKey ? { cert: await readFile(opts.tlsCert), key: await readFile(opts.tlsKey) } : undefined;
  const app = await buildApp({ db, log, https, images: opts.images, trustProxy: opts.trustProxy, limits: opts.maxConnections ? { maxConnections: opts.maxConnections } : undefined });
  const address = await app.listen({ host, port });
  log.info({ listen: opts.listen, address, database: db.kind, schema: version, tls: Boolean(https), trustProxy: opts.trustProxy ?? [] }, 'freight-controller serving');
  const tick = () =>
    schedulePending(db)
      .then((n) => n > 0 && log.info({ placed: n }, 'scheduled pending containers'))
      .catch((err) => log.warn({ err }, 'schedule pending failed'));
  const timer = setInterval(tick, opts.scheduleEveryMs ?? 5000);
  void tick();
  // one replica at a time generates and rotates ipsec keys (advisory lock on PostgreSQL)
  const keys = await startKeyManager({ db, log, databaseUrl: opts.databaseUrl, rotateAfterMs: (opts.ipsecRotateHours ?? 24) * 3_600_000 });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(timer);
      await keys.close();
      await app.close();
      await db.close();
      log.info('freight-controller stopped');
    })());
  return { address, stop };
}
