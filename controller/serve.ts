import os from 'node:os';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { authenticate } from './auth.js';
import { bootstrapAdmin, checkEnvToken } from './bootstrap.js';
import { schedulePending } from './scheduler.js';
import { migrate, openDb, type Db, type OpenOptions } from './store/db.js';
import { startKeyManager } from './keys/manager.js';
import type { ResolveDeps } from './images/resolve.js';
import { checkMasterKey, sealPlaintextKeys } from './keys/at-rest.js';
import { ensurePrivateDir } from './secrets/files.js';
import { createSealer, loadMasterKey, type Sealer } from './secrets/sealer.js';
import { ensureOwnTls, loadOperatorTls, wantedSans, type ControllerTls } from './tls/index.js';

export interface ServeOptions extends OpenOptions {
  listen: string;
  /** TLS material, the admin token file and the master key live here (0700). */
  stateDir: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Extra names/addresses for the generated serving certificate (`--tls-san`). */
  tlsSans?: string[];
  /** Plaintext HTTP (`--insecure`): no TLS, and no ipsec key ever leaves on the stream. */
  insecure?: boolean;
  adminToken?: string;
  /** Environment for the master key (FREIGHT_MASTER_KEY / FREIGHT_KEY_FILE); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Operator-facing lines (where the admin token file is, the CA fingerprint). Never a secret. */
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
  /** Agent stream backpressure and ack timeout (docs/push.md). */
  agentHighWaterBytes?: number;
  agentAckTimeoutMs?: number;
}

export interface Serving {
  address: string;
  /** The pinned CA's fingerprint and file; undefined with --insecure. */
  tls?: Pick<ControllerTls, 'fingerprint' | 'caFile'>;
  stop: () => Promise<void>;
}

/** `host:port` or `[v6]:port` or `:port`. */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[3]) > 65535) throw new Error(`--listen ${addr}: expected HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

export const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/** TLS unless --insecure: the operator's files, or the controller's own CA in the state directory. */
async function tlsFor(opts: ServeOptions, host: string, log: Logger): Promise<ControllerTls | undefined> {
  if (opts.insecure) {
    if (opts.tlsCert || opts.tlsKey) throw new Error('--insecure and --tls-cert/--tls-key contradict each other');
    if (!isLoopback(host))
      log.warn({ listen: opts.listen }, 'plaintext API on a non-loopback address (--insecure): tokens cross the network in clear');
    return undefined;
  }
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
  if (opts.tlsCert && opts.tlsKey) return loadOperatorTls(opts.tlsCert, opts.tlsKey);
  const tls = await ensureOwnTls(opts.stateDir, wantedSans(host, opts.tlsSans ?? [], os.networkInterfaces(), os.hostname()));
  if (tls.created.length > 0) log.info({ created: tls.created, caFile: tls.caFile }, 'TLS material created');
  return tls;
}

/** Migrates, ensures the admin token, serves. Resolves with the bound address and a stop function. */
export async function serve(opts: ServeOptions, log: Logger): Promise<Serving> {
  const { host, port } = parseListen(opts.listen);
  checkEnvToken(opts.adminToken); // before anything is created
  await ensurePrivateDir(opts.stateDir, 'state directory');
  const tls = await tlsFor(opts, host, log);
  const master = await loadMasterKey({ stateDir: opts.stateDir, env: opts.env });
  if (master.created) opts.print(`master key created: ${master.source} (back it up; every replica needs the same key)`);
  const sealer = createSealer(master.key);
  const db = await openDb(opts);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    const version = await migrate(db);
    await checkMasterKey(db, sealer);
    const sealed = await sealPlaintextKeys(db, sealer);
    if (sealed > 0) log.info({ rows: sealed }, 'sealed ipsec keys stored in clear by an older version');
    await bootstrap(db, opts, log);
    app = await buildApp({
      db,
      log,
      https: tls && { cert: tls.cert, key: tls.key },
      keys: sealer,
      images: opts.images,
      trustProxy: opts.trustProxy,
      limits: opts.maxConnections ? { maxConnections: opts.maxConnections } : undefined,
      pushOptions: { highWaterBytes: opts.agentHighWaterBytes, ackTimeoutMs: opts.agentAckTimeoutMs },
    });
    const address = await app.listen({ host, port });
    if (tls) opts.print(`CA ${tls.fingerprint} (${tls.caFile})`);
    log.info(
      {
        listen: opts.listen,
        address,
        database: db.kind,
        schema: version,
        tls: Boolean(tls),
        ca: tls?.fingerprint,
        masterKey: sealer.keyId,
        trustProxy: opts.trustProxy ?? [],
      },
      'freight-controller serving',
    );
    return { address, tls: tls && { fingerprint: tls.fingerprint, caFile: tls.caFile }, stop: await running(db, app, sealer, opts, log) };
  } catch (err) {
    await app?.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}

async function bootstrap(db: Db, opts: ServeOptions, log: Logger): Promise<void> {
  const b = await bootstrapAdmin(db, { stateDir: opts.stateDir, envToken: opts.adminToken });
  if (b.state === 'file') opts.print(`admin token ${b.written ? 'written to' : 'installed from'} ${b.file} (mode 0600)`);
  if (b.state === 'all-revoked') log.warn('every admin token is revoked: `freight-controller admin-token --rotate` makes a new one');
  if (
    b.state === 'exists' &&
    opts.adminToken &&
    !(await authenticate(db, `Bearer ${opts.adminToken}`).then(
      (p) => p.kind === 'admin',
      () => false,
    ))
  ) {
    log.warn('FREIGHT_ADMIN_TOKEN ignored: the database already has an admin token (it is only read at first start)');
  }
}

/** Background work of a serving controller; returns its stop function. */
async function running(
  db: Db,
  app: Awaited<ReturnType<typeof buildApp>>,
  sealer: Sealer,
  opts: ServeOptions,
  log: Logger,
): Promise<() => Promise<void>> {
  const tick = () =>
    schedulePending(db)
      .then((n) => n > 0 && log.info({ placed: n }, 'scheduled pending containers'))
      .catch((err) => log.warn({ err }, 'schedule pending failed'));
  const timer = setInterval(() => void tick(), opts.scheduleEveryMs ?? 5000);
  void tick();
  // one replica at a time generates and rotates ipsec keys (advisory lock on PostgreSQL)
  const keys = await startKeyManager({
    db,
    log,
    sealer,
    databaseUrl: opts.databaseUrl,
    rotateAfterMs: (opts.ipsecRotateHours ?? 24) * 3_600_000,
  });
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      clearInterval(timer);
      await keys.close();
      await app.close();
      await db.close();
      log.info('freight-controller stopped');
    })());
}
