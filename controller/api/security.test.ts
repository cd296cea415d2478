import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { BACKENDS } from '../../test/support/backends.js';
import { freshDatabase } from '../../test/support/pg.js';
import { buildApp, ROUTES } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, sqlState, type Db, type Queryable } from '../store/db.js';

const ADMIN = 'security-admin-token';
const log = pino({ level: 'silent' });

type Call = (
  method: string,
  url: string,
  body?: unknown,
  token?: string | null,
  ip?: string,
) => Promise<{ status: number; json: any; headers: Record<string, unknown> }>;

function caller(app: () => FastifyInstance): Call {
  return async (method, url, body, token = ADMIN, ip = '127.0.0.1') => {
    const res = await app().inject({
      method: method as 'GET',
      url,
      remoteAddress: ip,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, json: res.body ? res.json() : undefined, headers: res.headers };
  };
}

/** Two tenants with a network and a container each, created through the API. */
async function seed(call: Call): Promise<void> {
  await call('POST', '/v1/tenants', { name: 'acme' });
  await call('POST', '/v1/tenants', { name: 'other' });
  await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.0.0.0/24', type: 'ipsec' });
  await call('POST', '/v1/tenants/other/networks', { name: 'blue', cidr: '10.0.0.0/24' });
  for (const t of ['acme', 'other']) {
    const r = await call('POST', `/v1/tenants/${t}/containers`, { name: 'web', image: 'busybox', networks: ['blue'] });
    expect(r.status).toBe(201);
  }
}

/** Runs `fn` in a transaction as freight_api, with freight.tenant set to `tenant` unless undefined. */
async function asApi<T>(db: Db, tenant: string | undefined, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return db.tx(async (q) => {
    await q.query('SET LOCAL ROLE freight_api');
    if (tenant !== undefined) await q.query("SELECT set_config('freight.tenant', $1, true)", [tenant]);
    return fn(q);
  });
}

const TABLES = ['tenants', 'networks', 'containers', 'endpoints'];
const count = async (q: Queryable, table: string, where = 'true', params: unknown[] = []) =>
  Number((await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${where}`, params)).rows[0].n);

describe.each(BACKENDS)('row-level security on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  const call = caller(() => app);
  let acme: string;
  let other: string;

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false });
    await seed(call);
    const ids = (await db.query<{ id: string; name: string }>('SELECT id, name FROM tenants')).rows;
    acme = ids.find((t) => t.name === 'acme')!.id;
    other = ids.find((t) => t.name === 'other')!.id;
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('a query as freight_api without the tenant setting sees no row of any tenant-scoped table', async () => {
    for (const t of TABLES) expect(await count(db, t), `owner sees ${t}`).toBeGreaterThan(0);
    for (const t of TABLES) expect(await asApi(db, undefined, (q) => count(q, t)), t).toBe(0);
    // an emptied setting (after a transaction that set it) is no wildcard either
    for (const t of TABLES) expect(await asApi(db, '', (q) => count(q, t)), t).toBe(0);
  });

  it("with another tenant's id it sees none of this tenant's rows, and '*' sees both", async () => {
    for (const t of TABLES) {
      const col = t === 'tenants' ? 'id' : 'tenant_id';
      expect(await asApi(db, other, (q) => count(q, t, `${col} = $1`, [acme])), t).toBe(0);
      expect(await asApi(db, other, (q) => count(q, t, `${col} = $1`, [other])), t).toBeGreaterThan(0);
      expect(await asApi(db, '*', (q) => count(q, t, `${col} = $1`, [acme])), t).toBeGreaterThan(0);
    }
    // nor can it write into the other tenant
    const err = await asApi(db, other, (q) =>
      q.query("INSERT INTO networks (tenant_id, name, vni, cidr) VALUES ($1, 'evil', 999, '10.9.0.0/24')", [acme]),
    ).catch((e) => e);
    expect(sqlState(err)).toBe('42501');
    const upd = await asApi(db, other, (q) =>
      q.query<{ id: string }>("UPDATE containers SET desired_state = 'stopped' WHERE tenant_id = $1 RETURNING id", [acme]),
    );
    expect(upd.rows).toHaveLength(0);
    // an endpoint of its own into acme's network: the check trigger sees the real network (SECURITY DEFINER)
    const acmeNet = (await db.query<{ id: string }>('SELECT id FROM networks WHERE tenant_id = $1', [acme])).rows[0].id;
    const mine = (await db.query<{ id: string }>("SELECT id FROM containers WHERE tenant_id = $1 AND kind = 'container'", [other])).rows[0]
      .id;
    const cross = await asApi(db, other, (q) =>
      q.query(
        "INSERT INTO endpoints (tenant_id, network_id, container_id, ifindex, ip, mac) VALUES ($1, $2, $3, 3, '10.0.0.77', '02:aa:00:00:00:77')",
        [other, acmeNet, mine],
      ),
    ).catch((e) => e);
    expect([sqlState(cross), (cross as { constraint?: string }).constraint]).toEqual(['23514', 'endpoints_same_tenant']);
  });

  it('freight_api has no right on ipsec_keys, even as admin scope', async () => {
    const err = await asApi(db, '*', (q) => q.query('SELECT count(*) FROM ipsec_keys')).catch((e) => e);
    expect(sqlState(err)).toBe('42501');
  });

  it('the API still works for admins and tenants (VNI and scheduling see every tenant)', async () => {
    const { token } = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'other' })).json;
    const net = await call('POST', '/v1/tenants/other/networks', { name: 'green', cidr: '10.1.0.0/24' }, token);
    expect(net.status).toBe(201);
    // acme's and other's blue hold two VNIs, invisible to this tenant's rows: the new one is neither
    const used = (await db.query<{ vni: number }>("SELECT vni FROM networks WHERE name = 'blue'")).rows.map((r) => Number(r.vni));
    expect(used).not.toContain(net.json.vni);
    expect((await call('GET', '/v1/tenants/other/containers/web', undefined, token)).json.name).toBe('web');
    expect((await call('GET', '/v1/tenants/acme/containers/web')).json.name).toBe('web');
    expect((await call('GET', '/v1/tenants')).json.items).toHaveLength(2);
  });
});

describe('API security on postgres', () => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  const call = caller(() => app);
  let clock = 1_000_000;

  beforeAll(async () => {
    const fresh = await freshDatabase();
    db = await openDb({ databaseUrl: fresh.url });
    drop = fresh.drop;
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false, authLimit: { limit: 5, windowMs: 60_000, now: () => clock } });
    await seed(call);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it("answers 404 on every tenant route of the API for another tenant's token, 403 on admin routes", async () => {
    const { token } = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'other' })).json;
    const params: Record<string, string> = {
      tenant: 'acme',
      network: 'blue',
      name: 'web',
      node: 'n1',
      id: '00000000-0000-0000-0000-000000000000',
    };
    const bodies: Record<string, unknown> = {
      'POST /v1/tenants/:tenant/networks': { name: 'x', cidr: '10.77.0.0/24' },
      'POST /v1/tenants/:tenant/containers': { name: 'x', image: 'busybox', networks: ['blue'] },
      'POST /v1/tenants/:tenant/containers/:name/actions': { action: 'stop' },
      'POST /v1/tenants': { name: 'evil' },
      'POST /v1/tokens': { kind: 'admin' },
    };
    let tenantRoutes = 0;
    for (const r of ROUTES) {
      if (r.url === '/v1/events') continue; // a stream that never ends: its tenant scope is shown in events.test.ts
      const url = r.url.replace(/:(\w+)/g, (_, p: string) => params[p]);
      const res = await call(r.method, url, bodies[`${r.method} ${r.url}`], token);
      if (r.url.includes(':tenant') && r.auth === 'any') {
        tenantRoutes++;
        expect([res.status, res.json.code], `${r.method} ${r.url}`).toEqual([404, 'tenant_not_found']);
      } else if (r.auth === 'admin') {
        expect([res.status, res.json.code], `${r.method} ${r.url}`).toEqual([403, 'forbidden']);
      } else {
        expect(`${r.method} ${r.url}`).toBe('GET /v1/tenants'); // the only other route: lists its own tenant
        expect(res.json.items.map((t: { name: string }) => t.name)).toEqual(['other']);
      }
    }
    expect(tenantRoutes).toBeGreaterThanOrEqual(13);
    expect((await call('GET', '/v1/tenants/acme/containers/web')).json.desiredState).toBe('running'); // untouched
  });

  it('revokes a token at once', async () => {
    const t = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).json;
    expect((await call('GET', '/v1/tenants/acme', undefined, t.token)).status).toBe(200);
    expect((await call('DELETE', `/v1/tokens/${t.id}`)).status).toBe(200);
    expect((await call('GET', '/v1/tenants/acme', undefined, t.token)).status).toBe(401);
  });

  it('limits authentication failures per source address: 429 with Retry-After, other sources unaffected', async () => {
    const bad = '192.0.2.1';
    const good = '192.0.2.2';
    for (let i = 0; i < 5; i++) expect((await call('GET', '/v1/tenants', undefined, `guess-${i}`, bad)).status).toBe(401);
    // a success from another source does not reset the first one's count
    expect((await call('GET', '/v1/tenants', undefined, ADMIN, good)).status).toBe(200);
    // a valid token is never limited (issue 14: it used to get 429 too); the next guess is
    expect((await call('GET', '/v1/tenants', undefined, ADMIN, bad)).status).toBe(200);
    const blocked = await call('GET', '/v1/tenants', undefined, 'guess-5', bad);
    expect([blocked.status, blocked.json.code]).toEqual([429, 'too_many_auth_failures']);
    expect(blocked.headers['retry-after']).toBe('60');
    clock += 30_000;
    expect((await call('GET', '/v1/tenants', undefined, null, bad)).headers['retry-after']).toBe('30');
    expect((await call('GET', '/v1/tenants', undefined, ADMIN, good)).status).toBe(200);
    clock += 30_001;
    expect((await call('GET', '/v1/tenants', undefined, ADMIN, bad)).status).toBe(200);
    // 4 failures stay under the limit
    for (let i = 0; i < 4; i++) await call('GET', '/v1/tenants', undefined, 'nope', good);
    expect((await call('GET', '/v1/tenants', undefined, ADMIN, good)).status).toBe(200);
  });

  it('serves the audit log to admins only, newest first, with a cursor; it never holds bodies or key material', async () => {
    const tenantTok = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).json;
    expect((await call('DELETE', '/v1/tenants/acme', undefined, 'wrong', '192.0.2.9')).status).toBe(401);
    await call('POST', '/v1/tenants/acme/containers/web/actions', { action: 'stop' }, tenantTok.token);
    await call('POST', '/v1/tenants/acme/networks/blue/rotate-keys', undefined, tenantTok.token);
    const denied = await call('GET', '/v1/audit', undefined, tenantTok.token);
    expect([denied.status, denied.json.code]).toEqual([403, 'forbidden']);
    const page = (await call('GET', '/v1/audit?limit=2')).json;
    expect(page.items).toHaveLength(2);
    expect(page.items[0]).toMatchObject({
      actor: `tenant:${tenantTok.id}`,
      tenant: 'acme',
      method: 'POST',
      path: '/v1/tenants/acme/networks/blue/rotate-keys',
      status: 202,
    });
    expect(page.items[0].at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(page.items[1]).toMatchObject({ path: '/v1/tenants/acme/containers/web/actions', status: 200 });
    const next = (await call('GET', `/v1/audit?limit=1000&after=${page.next}`)).json;
    expect(next.items[0].id).toBeLessThan(page.items[1].id);
    expect(next.items.some((e: { status: number; actor: string }) => e.status === 401 && e.actor === 'anonymous')).toBe(true);
    expect(JSON.stringify(next)).not.toContain(tenantTok.token);
    expect((await call('GET', '/v1/audit?after=bad')).json.path).toBe('after');
  });

  it('accepts rotate-keys for ipsec networks only (202), 404 for unknown networks', async () => {
    const r = await call('POST', '/v1/tenants/acme/networks/blue/rotate-keys');
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ network: 'blue' });
    expect((await db.query('SELECT 1 FROM ipsec_rotations')).rows).toHaveLength(1);
    const vx = await call('POST', '/v1/tenants/other/networks/blue/rotate-keys');
    expect([vx.status, vx.json.code]).toEqual([400, 'invalid']);
    expect((await call('POST', '/v1/tenants/acme/networks/nope/rotate-keys')).json.code).toBe('network_not_found');
  });
});
