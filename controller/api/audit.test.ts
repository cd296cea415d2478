import type net from 'node:net';
import pg from 'pg';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { adminUrl, freshDatabase } from '../../test/support/pg.js';
import { buildApp, type AppOptions } from '../app.js';
import type { AuditLog } from '../audit.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';

const ADMIN = 'audit-admin-token-0123456789abcdef';
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type App = FastifyInstance & { audit: AuditLog };
interface Row {
  actor: string;
  source: string | null;
  action: string | null;
  object: string | null;
  outcome: string;
  code: string | null;
  count: number;
  method: string;
  path: string;
  status: number;
}

describe('audit log and authentication limiter on postgres', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  const apps: App[] = [];
  const start = async (o: Partial<AppOptions> = {}) => {
    const app = (await buildApp({ db, log, push: false, ...o })) as App;
    apps.push(app);
    return app;
  };
  const call = (
    app: FastifyInstance,
    method: string,
    url: string,
    o: { body?: unknown; token?: string | null; ip?: string; xff?: string } = {},
  ) =>
    app.inject({
      method: method as 'GET',
      url,
      remoteAddress: o.ip ?? '127.0.0.1',
      headers: {
        ...(o.token === null ? {} : { authorization: `Bearer ${o.token ?? ADMIN}` }),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(o.xff ? { 'x-forwarded-for': o.xff } : {}),
      },
      payload: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
  const rows = async (where: string, params: unknown[] = []) =>
    (
      await db.query<Row>(
        `SELECT actor, source, action, object, outcome, code, count, method, path, status FROM audit_log WHERE ${where} ORDER BY id`,
        params,
      )
    ).rows;

  beforeAll(async () => {
    fresh = await freshDatabase();
    db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
  });
  afterAll(async () => {
    for (const a of apps) await a.close().catch(() => {});
    await db?.close();
    await fresh?.drop();
  });

  it('records source address, action, object and outcome of creates, deletes, failures and revocations', async () => {
    const app = await start();
    const ip = '198.51.100.20';
    expect((await call(app, 'POST', '/v1/tenants', { body: { name: 'aud' }, ip })).statusCode).toBe(201);
    expect((await call(app, 'POST', '/v1/tenants', { body: { name: 'aud' }, ip })).statusCode).toBe(409);
    expect((await call(app, 'POST', '/v1/tenants/aud/networks', { body: { name: 'blue', cidr: '10.3.0.0/24' }, ip })).statusCode).toBe(201);
    expect((await call(app, 'DELETE', '/v1/tenants/aud/networks/blue', { ip })).statusCode).toBe(204);
    const tok = (await call(app, 'POST', '/v1/tokens', { body: { kind: 'tenant', tenant: 'aud' }, ip })).json();
    expect((await call(app, 'DELETE', `/v1/tokens/${tok.id}`, { ip })).statusCode).toBe(200);
    await app.audit.flush();
    const got = await rows('source = $1', [ip]);
    const admin = expect.stringMatching(/^admin:[0-9a-f-]{36}$/);
    expect(got).toEqual([
      {
        actor: admin,
        source: ip,
        action: 'create tenant',
        object: 'tenant aud',
        outcome: 'success',
        code: null,
        count: 1,
        method: 'POST',
        path: '/v1/tenants',
        status: 201,
      },
      {
        actor: admin,
        source: ip,
        action: 'create tenant',
        object: 'tenant aud',
        outcome: 'failure',
        code: 'conflict',
        count: 1,
        method: 'POST',
        path: '/v1/tenants',
        status: 409,
      },
      expect.objectContaining({ action: 'create network', object: 'network aud/blue', outcome: 'success', status: 201 }),
      expect.objectContaining({ action: 'delete network', object: 'network aud/blue', outcome: 'success', method: 'DELETE', status: 204 }),
      expect.objectContaining({ action: 'create token', object: `token ${tok.id}`, outcome: 'success', status: 201 }),
      {
        actor: admin,
        source: ip,
        action: 'revoke token',
        object: `token ${tok.id}`,
        outcome: 'success',
        code: null,
        count: 1,
        method: 'DELETE',
        path: `/v1/tokens/${tok.id}`,
        status: 200,
      },
    ]);
    expect(JSON.stringify(got)).not.toContain(tok.token);
    // the API shows the new columns
    const page = (await call(app, 'GET', '/v1/audit?limit=1')).json();
    expect(page.items[0]).toMatchObject({
      source: ip,
      action: 'revoke token',
      object: `token ${tok.id}`,
      outcome: 'success',
      code: null,
      count: 1,
    });
  });

  it('writes failed authentications as at most one row per address and interval, with a count', async () => {
    const app = await start({ auditOptions: { authFailureEveryMs: 600 } });
    const ip = '198.51.100.21';
    for (let i = 0; i < 5; i++)
      expect(
        (await call(app, i % 2 ? 'GET' : 'POST', '/v1/tenants', { token: `guess-${i}`, ip, body: i % 2 ? undefined : { name: 'x' } }))
          .statusCode,
      ).toBe(401);
    await app.audit.flush();
    // the first at once, the other four counted until the interval ends
    expect(await rows('source = $1', [ip])).toEqual([
      {
        actor: 'anonymous',
        source: ip,
        action: 'authenticate',
        object: null,
        outcome: 'failure',
        code: 'unauthenticated',
        count: 1,
        method: 'POST',
        path: '/v1/tenants',
        status: 401,
      },
    ]);
    await sleep(1800); // the interval ends, the timer folds the count into one row
    await app.audit.flush();
    const after = await rows('source = $1', [ip]);
    expect(after.map((r) => r.count)).toEqual([1, 4]);
    for (let i = 0; i < 30; i++) await call(app, 'GET', '/v1/tenants', { token: 'nope', ip });
    await sleep(1800);
    await app.audit.flush();
    // 35 failures: 20 answered 401, then 15 answered 429 (the limit); per code and interval one row
    // for the first failure and one that counts the rest
    const all = await rows('source = $1', [ip]);
    const per = (code: string) => all.filter((r) => r.code === code).map((r) => r.count);
    expect(per('unauthenticated')).toEqual([1, 4, 1, 14]);
    expect(per('too_many_auth_failures')).toEqual([1, 14]);
  });

  it('never limits a valid token: after 20 bad tokens from one address the admin token still gets 200', async () => {
    const app = await start();
    const ip = '198.51.100.22';
    for (let i = 0; i < 20; i++) expect((await call(app, 'GET', '/v1/tenants', { token: `bad-${i}`, ip })).statusCode).toBe(401);
    const blocked = await call(app, 'GET', '/v1/tenants', { token: 'bad-20', ip });
    expect([blocked.statusCode, blocked.json().code]).toEqual([429, 'too_many_auth_failures']);
    expect((await call(app, 'GET', '/v1/tenants', { ip })).statusCode).toBe(200);
    expect((await call(app, 'POST', '/v1/tenants', { ip, body: { name: 'still-works' } })).statusCode).toBe(201);
    expect((await call(app, 'GET', '/v1/tenants', { token: 'bad-21', ip })).statusCode).toBe(429);
  });

  it('honours X-Forwarded-For only with trust-proxy, and only from the named proxy', async () => {
    const plain = await start();
    // without trust-proxy the header is ignored: varying it does not escape the limit of the socket address
    const proxyIp = '192.0.2.77';
    for (let i = 0; i < 20; i++) await call(plain, 'GET', '/v1/tenants', { token: 'x', ip: proxyIp, xff: `203.0.113.${i}` });
    expect((await call(plain, 'GET', '/v1/tenants', { token: 'x', ip: proxyIp, xff: '203.0.113.200' })).statusCode).toBe(429);

    const behind = await start({ trustProxy: [proxyIp] });
    for (let i = 0; i < 20; i++) await call(behind, 'GET', '/v1/tenants', { token: 'x', ip: proxyIp, xff: '203.0.113.9' });
    expect((await call(behind, 'GET', '/v1/tenants', { token: 'x', ip: proxyIp, xff: '203.0.113.9' })).statusCode).toBe(429);
    // another client behind the same proxy is not blocked
    expect((await call(behind, 'GET', '/v1/tenants', { token: 'x', ip: proxyIp, xff: '203.0.113.10' })).statusCode).toBe(401);
    // a client that is not the proxy cannot name an address
    for (let i = 0; i < 20; i++) await call(behind, 'GET', '/v1/tenants', { token: 'x', ip: '192.0.2.78', xff: `203.0.113.${50 + i}` });
    expect((await call(behind, 'GET', '/v1/tenants', { token: 'x', ip: '192.0.2.78', xff: '203.0.113.99' })).statusCode).toBe(429);
    // the audit log records the client the proxy names
    expect((await call(behind, 'POST', '/v1/tenants', { body: { name: 'via-proxy' }, ip: proxyIp, xff: '203.0.113.5' })).statusCode).toBe(
      201,
    );
    await behind.audit.flush();
    expect((await rows("object = 'tenant via-proxy'"))[0].source).toBe('203.0.113.5');
  });

  it('records agent stream connects, disconnects and refused upgrades', async () => {
    const app = (await buildApp({ db, log, auditOptions: { authFailureEveryMs: 0 } })) as App; // with the push hub
    apps.push(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;
    const tok = (await call(app, 'POST', '/v1/tokens', { body: { kind: 'node', node: 'aud-n1' } })).json();
    const open = (token: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/agent/stream`, { headers: { authorization: `Bearer ${token}` } });
        ws.on('open', () => ws.close(1000));
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('close', () => resolve(101));
        ws.on('error', () => {});
      });
    expect(await open(tok.token)).toBe(101);
    expect(await open('frt_wrong')).toBe(401);
    await sleep(200);
    await app.audit.flush();
    const got = await rows("path = '/v1/agent/stream'");
    expect(got).toEqual([
      expect.objectContaining({
        actor: 'node:aud-n1',
        source: '127.0.0.1',
        action: 'stream connect',
        object: 'node aud-n1',
        outcome: 'success',
      }),
      expect.objectContaining({
        actor: 'node:aud-n1',
        source: '127.0.0.1',
        action: 'stream disconnect',
        object: 'node aud-n1',
        code: '1000',
      }),
      expect.objectContaining({
        actor: 'anonymous',
        source: '127.0.0.1',
        action: 'authenticate',
        outcome: 'failure',
        code: 'unauthenticated',
        status: 401,
      }),
    ]);
  });

  it('loses no entry while the database is briefly unavailable: kept and written once it is back', async () => {
    const app = await start({ auditOptions: { everyMs: 60_000 } }); // flushes only when asked
    const ip = '198.51.100.23';
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      expect((await call(app, 'POST', '/v1/tenants', { body: { name: 'blip-1' }, ip })).statusCode).toBe(201);
      // the database goes away: its sessions are terminated and new ones refused
      await admin.query(`ALTER DATABASE ${fresh.name} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
        fresh.name,
      ]);
      await app.audit.flush(); // fails: kept
      for (let i = 2; i <= 4; i++)
        expect((await call(app, 'POST', '/v1/tenants', { body: { name: `blip-${i}` }, ip })).statusCode).toBe(503);
      await app.audit.flush(); // fails again
      const m = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(m).toMatch(/^freight_audit_write_failures_total [1-9]/m);
      expect(m).toMatch(/^freight_audit_buffered 4$/m);
      await admin.query(`ALTER DATABASE ${fresh.name} ALLOW_CONNECTIONS true`);
      await app.audit.flush();
      const got = await rows('source = $1', [ip]);
      expect(got.map((r) => [r.object, r.status])).toEqual([
        ['tenant blip-1', 201],
        ['tenant blip-2', 503],
        ['tenant blip-3', 503],
        ['tenant blip-4', 503],
      ]);
      expect(got[1].code).toBe('database_unavailable');
      // terminated sessions alone: the write on a dead pooled connection fails once, then succeeds
      expect((await call(app, 'POST', '/v1/tenants', { body: { name: 'blip-5' }, ip })).statusCode).toBe(201);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
        fresh.name,
      ]);
      await app.audit.flush();
      await app.audit.flush();
      expect((await rows('source = $1', [ip])).map((r) => r.object)).toContain('tenant blip-5');
      expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^freight_audit_dropped_total 0$/m);
    } finally {
      await admin.query(`ALTER DATABASE ${fresh.name} ALLOW_CONNECTIONS true`).catch(() => {});
      await admin.end();
    }
  });

  it('bounds the buffer while the database is down and counts what it drops', async () => {
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    const app = await start({ auditOptions: { everyMs: 60_000, maxBuffer: 3 } });
    try {
      await admin.query(`ALTER DATABASE ${fresh.name} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
        fresh.name,
      ]);
      for (let i = 0; i < 5; i++)
        app.audit.record({ at: new Date(), actor: 'admin:x', tenantId: null, method: 'POST', path: '/v1/x', status: 201 });
      await app.audit.flush();
      const m = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(m).toMatch(/^freight_audit_dropped_total 2$/m);
      expect(m).toMatch(/^freight_audit_buffered 3$/m);
    } finally {
      await admin.query(`ALTER DATABASE ${fresh.name} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    await app.audit.flush();
    expect((await rows("path = '/v1/x'")).length).toBe(3);
  });
});
