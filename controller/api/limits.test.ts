import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { freshDatabase } from '../../test/support/pg.js';
import { startStallProxy, type StallProxy } from '../../test/support/stall-proxy.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { SERVER_LIMITS } from '../limits.js';
import { isTimeout, isUnavailable, migrate, openDb, sqlState, type Db } from '../store/db.js';

const ADMIN = 'limits-admin-token-0123456789abcdef';
const log = pino({ level: 'silent' });
const auth = { authorization: `Bearer ${ADMIN}` };

/** Runs `fn`, resolving with its result and how long it took; gives up (null) after `capMs`. */
async function timed<T>(fn: () => Promise<T>, capMs = 15_000): Promise<{ value: T | null; ms: number }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<null>((r) => (timer = setTimeout(() => r(null), capMs)));
  const value = await Promise.race([fn(), cap]);
  clearTimeout(timer);
  return { value, ms: performance.now() - t0 };
}

describe('a database that accepts connections but stops answering', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let proxy: StallProxy;
  let db: Db;
  let app: FastifyInstance;

  beforeAll(async () => {
    fresh = await freshDatabase();
    const direct = await openDb({ databaseUrl: fresh.url });
    await migrate(direct);
    await ensureAdminToken(direct, ADMIN);
    await direct.close();
    const u = new URL(fresh.url);
    proxy = await startStallProxy(u.hostname, Number(u.port || 5432));
    db = await openDb({ databaseUrl: proxy.via(fresh.url), poolSize: 4 });
    app = await buildApp({ db, log, push: false });
  });
  afterAll(async () => {
    proxy?.forward();
    await app?.close();
    await db?.close();
    await proxy?.close();
    await fresh?.drop();
  });

  it('answers 503 database_unavailable within 5 s (pooled, new and queued connections), /healthz says timeout, and recovers', async () => {
    // warm the pool: pooled connections that will hang mid-query
    const post = (url: string, body: unknown) =>
      app.inject({ method: 'POST', url, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    expect((await post('/v1/tenants', { name: 'st' })).statusCode).toBe(201);
    expect((await post('/v1/tenants/st/networks', { name: 'n', cidr: '10.9.0.0/24' })).statusCode).toBe(201);
    const warm = await Promise.all(Array.from({ length: 4 }, () => app.inject({ method: 'GET', url: '/v1/tenants', headers: auth })));
    expect(warm.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    proxy.stall();
    // more requests than the pool has connections: some wait for a connection that never frees
    const burst = await timed(() =>
      Promise.all([
        ...Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: '/v1/tenants', headers: auth })),
        app.inject({
          method: 'POST',
          url: '/v1/tenants',
          headers: { ...auth, 'content-type': 'application/json' },
          payload: '{"name":"stalled"}',
        }),
        // container creates are group-committed: a stalled batch must not be replayed job by job
        ...Array.from({ length: 6 }, (_, i) =>
          app.inject({
            method: 'POST',
            url: '/v1/tenants/st/containers',
            headers: { ...auth, 'content-type': 'application/json' },
            payload: JSON.stringify({ name: `c${i}`, image: 'busybox', networks: ['n'] }),
          }),
        ),
      ]),
    );
    expect(burst.value, 'requests still unanswered after 15 s').not.toBeNull();
    expect(burst.ms).toBeLessThan(5000);
    for (const r of burst.value!) expect([r.statusCode, r.json().code]).toEqual([503, 'database_unavailable']);

    const health = await timed(() => app.inject({ method: 'GET', url: '/healthz' }));
    expect(health.ms).toBeLessThan(5000);
    expect(health.value!.statusCode).toBe(503);
    expect(health.value!.json()).toMatchObject({ status: 'degraded', database: 'timeout', code: 'database_unavailable' });

    // a request that arrives when every pooled connection has been dropped: a new connection hangs
    const late = await timed(() => app.inject({ method: 'GET', url: '/v1/tenants', headers: auth }));
    expect(late.ms).toBeLessThan(5000);
    expect(late.value!.statusCode).toBe(503);

    proxy.forward();
    const back = await timed(async () => {
      for (;;) {
        const r = await app.inject({ method: 'GET', url: '/healthz' });
        if (r.statusCode === 200) return r;
        await new Promise((res) => setTimeout(res, 200));
      }
    });
    expect(back.value!.json()).toEqual({ status: 'ok', database: 'reachable' });
    expect((await app.inject({ method: 'GET', url: '/v1/tenants', headers: auth })).statusCode).toBe(200);
  }, 60_000);
});

describe('HTTP server limits', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  beforeAll(async () => {
    fresh = await freshDatabase();
    db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('sets request, header, keep-alive and idle timeouts and a connection cap by default', async () => {
    const app = await buildApp({ db, log, push: false });
    try {
      const s = app.server;
      expect([s.requestTimeout, s.headersTimeout, s.keepAliveTimeout, s.timeout, s.maxConnections]).toEqual([
        SERVER_LIMITS.requestTimeoutMs,
        SERVER_LIMITS.headersTimeoutMs,
        SERVER_LIMITS.keepAliveTimeoutMs,
        SERVER_LIMITS.idleTimeoutMs,
        SERVER_LIMITS.maxConnections,
      ]);
    } finally {
      await app.close();
    }
  });

  it('cuts off a slow-body client and a slow-header client within the request timeout plus the check interval', async () => {
    const app = await buildApp({ db, log, push: false, limits: { requestTimeoutMs: 1500, headersTimeoutMs: 1000, checkIntervalMs: 250 } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;
    /** Opens a connection that sends `head` then one byte every 100 ms; resolves when the server ends it. */
    const slow = (head: string) =>
      new Promise<{ ms: number; answer: string }>((resolve) => {
        const t0 = performance.now();
        const sock = net.connect(port, '127.0.0.1');
        let answer = '';
        const drip = setInterval(() => sock.writable && sock.write('x'), 100);
        sock.on('connect', () => sock.write(head));
        sock.on('data', (d) => (answer += d.toString()));
        sock.on('error', () => {});
        sock.on('close', () => {
          clearInterval(drip);
          resolve({ ms: performance.now() - t0, answer });
        });
        setTimeout(() => sock.destroy(), 20_000); // the old code never cut it off
      });
    try {
      const [body, header] = await Promise.all([
        slow(
          `POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
        ),
        slow('GET /v1/tenants HTTP/1.1\r\nHost: x\r\nX-Slow: '),
      ]);
      expect(body.ms).toBeLessThan(1500 + 250 + 1000);
      expect(body.answer).toMatch(/^HTTP\/1\.1 408/);
      expect(header.ms).toBeLessThan(1000 + 250 + 1000);
      expect(header.answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await app.close();
    }
  }, 30_000);

  it('caps concurrent connections: past the cap a new connection is closed at once', async () => {
    const app = await buildApp({ db, log, push: false, limits: { maxConnections: 2 } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;
    const socks: net.Socket[] = [];
    const open = () =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.on('error', () => {});
        socks.push(s);
      });
    try {
      await open();
      await open();
      await new Promise((r) => setTimeout(r, 100)); // the server has counted both
      const third = await open();
      const closed = await new Promise<boolean>((resolve) => {
        third.on('close', () => resolve(true));
        third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        setTimeout(() => resolve(false), 3000);
      });
      expect(closed).toBe(true);
    } finally {
      for (const s of socks) s.destroy();
      await app.close();
    }
  });

  it('limits body sizes per route: small by default, larger for container creates and repository keys', async () => {
    const app = await buildApp({ db, log, push: false });
    const post = (url: string, payload: string) =>
      app.inject({ method: 'POST', url, headers: { ...auth, 'content-type': 'application/json' }, payload });
    try {
      const pad = (n: number) => JSON.stringify({ name: 'x', pad: 'y'.repeat(n) });
      expect((await post('/v1/tenants', pad(20 * 1024))).json().code).toBe('body_too_large');
      expect((await post('/v1/tenants', pad(8 * 1024))).json().code).toBe('invalid'); // under the limit: validated
      expect((await post('/v1/tenants', JSON.stringify({ name: 'bodies' }))).statusCode).toBe(201);
      // a container's command may be long (zod allows 256 × 4096 characters)
      const cmd = JSON.stringify({
        name: 'c',
        image: 'busybox',
        networks: ['n'],
        command: Array.from({ length: 100 }, () => 'z'.repeat(4000)),
      });
      expect((await post('/v1/tenants/bodies/containers', cmd)).json().code).not.toBe('body_too_large');
      expect((await post('/v1/tenants/bodies/containers', pad(2 * 1024 * 1024))).json().code).toBe('body_too_large');
      const key = JSON.stringify({
        name: 'r',
        url: 'https://repo.example/',
        publicKey: `-----BEGIN PGP PUBLIC KEY BLOCK-----\n${'A'.repeat(60_000)}`,
      });
      expect((await post('/v1/tenants/bodies/image-repositories', key)).json().code).not.toBe('body_too_large');
    } finally {
      await app.close();
    }
  });
});

describe('database statement timeouts', () => {
  it('cancel a long statement (503-class error), unless its transaction lifts the bound with SET LOCAL statement_timeout', async () => {
    const fresh = await freshDatabase();
    const db = await openDb({ databaseUrl: fresh.url, timeouts: { statementMs: 300, queryMs: 500 } });
    try {
      const err = await db.query('SELECT pg_sleep(0.8)').catch((e) => e);
      expect([sqlState(err), isUnavailable(err), isTimeout(err)]).toEqual(['57014', true, true]);
      const r = await db.tx(async (q) => {
        await q.query('SET LOCAL statement_timeout = 3000');
        return q.query<{ ok: number }>('SELECT 1 AS ok FROM pg_sleep(0.8)');
      });
      expect(r.rows).toEqual([{ ok: 1 }]);
      // the next transaction on the same pooled connection has the bound again
      expect(sqlState(await db.tx((q) => q.query('SELECT pg_sleep(0.8)')).catch((e) => e))).toBe('57014');
      expect(await migrate(db)).toBe(1); // migrations lift it themselves
    } finally {
      await db.close();
      await fresh.drop();
    }
  });
});
