/** Test harness for the push stream: a fresh database, controllers and agents in-process. */
import Fastify, { type FastifyInstance } from 'fastify';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { registerPush, type PushContext, type PushHub, type PushOptions } from '../../controller/push/index.js';
import { migrate, openDb, type Db } from '../../controller/store/db.js';
import { AgentSession } from '../../node-agent/session/session.js';
import type { Capabilities } from '../../protocol/stream.js';
import type { NodeView } from '../../protocol/view.js';
import { freshDatabase } from '../support/pg.js';
import { createCa, createServerCert } from '../../controller/tls/certs.js';
import { createSealer } from '../../controller/secrets/sealer.js';
import { testCaps } from '../support/caps.js';

/** The stream runs over TLS as in production: one CA and 127.0.0.1 certificate per test file. */
const ca = await createCa(new Date(), 'Freight test CA');
const server = await createServerCert(ca, { ips: ['127.0.0.1'], dns: ['localhost'] }, new Date());
export const TEST_TLS = { ca: ca.cert, cert: `${server.cert}${ca.cert}`, key: server.key };
/** Seals ipsec keys at rest; the key manager of a test must use the same one (startKeyManager({ sealer })). */
export const TEST_SEALER = createSealer(randomBytes(32));

export const CAPS: Capabilities = testCaps();
export const quiet = pino({ level: process.env.FREIGHT_TEST_LOG ?? 'silent' });

/** The shared PostgreSQL may be momentarily full of other suites' clients: retry for a while. */
async function retryFull<T>(fn: () => Promise<T>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end || !/too many clients/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export async function testDb(): Promise<{ db: Db; url: string; drop(): Promise<void> }> {
  const fresh = await retryFull(() => freshDatabase('freight_push'));
  const db = await openDb({ databaseUrl: fresh.url });
  await retryFull(() => migrate(db));
  return {
    db,
    url: fresh.url,
    drop: async () => {
      await db.close();
      await retryFull(() => fresh.drop());
    },
  };
}

/** Polls `pred`; an exception counts as "not yet" (the database may be restarting), and is reported on timeout. */
export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await pred()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Minimal SQL seeding (the REST API is another engineer's part). */
export class Seed {
  private macs = 0;
  constructor(readonly db: Db) {}
  async tenant(name: string): Promise<string> {
    return (await this.db.query<{ id: string }>('INSERT INTO tenants (name) VALUES ($1) RETURNING id', [name])).rows[0].id;
  }
  async network(tenantId: string, name: string, vni: number, cidr = '10.0.0.0/24', type = 'vxlan'): Promise<string> {
    return (
      await this.db.query<{ id: string }>(
        'INSERT INTO networks (tenant_id, name, type, vni, cidr) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        [tenantId, name, type, vni, cidr],
      )
    ).rows[0].id;
  }
  async node(name: string, ip: string): Promise<{ id: string; token: string }> {
    const id = (await this.db.query<{ id: string }>('INSERT INTO nodes (name, underlay_ip) VALUES ($1, $2) RETURNING id', [name, ip]))
      .rows[0].id;
    return { id, token: await this.token(name) };
  }
  async token(node: string): Promise<string> {
    const secret = randomBytes(16).toString('hex');
    await this.db.query(`INSERT INTO tokens (hash, kind, node_name) VALUES ($1, 'node', $2)`, [
      createHash('sha256').update(secret).digest('hex'),
      node,
    ]);
    return secret;
  }
  async container(tenantId: string, name: string, nodeId: string | null): Promise<string> {
    return (
      await this.db.query<{ id: string }>('INSERT INTO containers (tenant_id, name, image, node_id) VALUES ($1, $2, $3, $4) RETURNING id', [
        tenantId,
        name,
        'busybox',
        nodeId,
      ])
    ).rows[0].id;
  }
  /** A container with one endpoint on `networkId`, in one transaction (as the API does). */
  async attach(
    tenantId: string,
    networkId: string,
    name: string,
    nodeId: string | null,
    ip: string,
  ): Promise<{ container: string; endpoint: string }> {
    const mac = `02:00:00:00:${(++this.macs >> 8).toString(16).padStart(2, '0')}:${(this.macs & 255).toString(16).padStart(2, '0')}`;
    return this.db.tx(async (q) => {
      const container = (
        await q.query<{ id: string }>('INSERT INTO containers (tenant_id, name, image, node_id) VALUES ($1, $2, $3, $4) RETURNING id', [
          tenantId,
          name,
          'busybox',
          nodeId,
        ])
      ).rows[0].id;
      const endpoint = (
        await q.query<{ id: string }>(
          'INSERT INTO endpoints (tenant_id, network_id, container_id, mac, ip, node_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
          [tenantId, networkId, container, mac, ip, nodeId],
        )
      ).rows[0].id;
      return { container, endpoint };
    });
  }
  async nodeRow(name: string): Promise<{ ready: boolean; applied_revision: string; desired_revision: string; last_seen: Date | null }> {
    return (
      await this.db.query<never>('SELECT ready, applied_revision::text, desired_revision::text, last_seen FROM nodes WHERE name = $1', [
        name,
      ])
    ).rows[0];
  }
  async newestRevision(): Promise<number> {
    return Number((await this.db.query<{ r: string }>('SELECT coalesce(max(revision), 0)::text AS r FROM change_log')).rows[0].r);
  }
}

export interface Controller {
  app: FastifyInstance;
  hub: PushHub;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startController(
  db: Db,
  options: PushOptions = {},
  port = 0,
  onNodeReady?: (n: string) => Promise<void>,
  extra: Pick<PushContext, 'authLimit'> = {},
): Promise<Controller> {
  const app = Fastify({ logger: false, https: { cert: TEST_TLS.cert, key: TEST_TLS.key } });
  const hub = await registerPush(app, { db, log: quiet, options, onNodeReady, keys: TEST_SEALER, ...extra });
  await app.listen({ host: '127.0.0.1', port });
  const addr = app.server.address();
  const p = typeof addr === 'object' && addr ? addr.port : port;
  return {
    app,
    hub,
    port: p,
    url: `wss://127.0.0.1:${p}/v1/agent/stream`,
    async close() {
      await hub.close();
      await app.close();
    },
  };
}

/** An AgentSession that records what it applied and checks revisions only grow. */
export class TestAgent {
  readonly session: AgentSession;
  readonly applied: Array<{ revision: number; how: string }> = [];
  readonly views: NodeView[] = [];
  readonly errors: string[] = [];
  constructor(
    url: string,
    token: string,
    readonly node: string,
    ip: string,
    readonly stateDir: string,
    heartbeatMs = 200,
    extra: Partial<ConstructorParameters<typeof AgentSession>[0]> = {},
  ) {
    this.session = new AgentSession({
      url,
      token,
      node,
      underlayIp: ip,
      underlayMtu: 1500,
      capabilities: CAPS,
      stateDir,
      heartbeatMs,
      backoff: { minMs: 50, maxMs: 500 },
      log: quiet,
      tls: { ca: TEST_TLS.ca },
      onView: async (view) => {
        this.views.push(view);
      },
      onApplied: (revision, how) => {
        const last = this.applied[this.applied.length - 1];
        if (last && revision <= last.revision) this.errors.push(`revision went ${last.revision} → ${revision} (${how})`);
        this.applied.push({ revision, how });
      },
      ...extra,
    });
  }
  get view(): NodeView {
    return this.session.currentView;
  }
  start(): Promise<void> {
    return this.session.start();
  }
  stop(): Promise<void> {
    return this.session.stop();
  }
}

export function tempDir(): { dir: string; rm(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'freight-agent-'));
  return { dir, rm: () => rmSync(dir, { recursive: true, force: true }) };
}
