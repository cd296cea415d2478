/**
 * Reserved names at the API (issue 13, finding 6): a tenant asking for the infra image gets
 * the infra's host binds on today's main; now `freight-infra` (any version) and `infra-*`
 * container names are refused with 400 reserved_name, for tenant and admin tokens alike.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../test/support/pg.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';

const ADMIN = 'reserved-admin-token';

describe('reserved names on postgres', () => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let tenantToken: string;
  const call = async (method: string, url: string, body?: unknown, token = ADMIN) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      payload: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.statusCode, json: res.body ? res.json() : undefined };
  };

  beforeAll(async () => {
    const fresh = await freshDatabase();
    db = await openDb({ databaseUrl: fresh.url });
    drop = fresh.drop;
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log: pino({ level: 'silent' }), push: false });
    await call('POST', '/v1/tenants', { name: 'acme' });
    await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.0.0.0/24' });
    tenantToken = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).json.token;
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  const create = (body: Record<string, unknown>, token?: string) =>
    call('POST', '/v1/tenants/acme/containers', { name: 'web', image: 'busybox', networks: ['blue'], ...body }, token);

  it('refuses image freight-infra from a tenant token: 400 reserved_name on the image field, nothing created', async () => {
    const r = await create({ image: 'freight-infra' }, tenantToken);
    expect([r.status, r.json.code, r.json.path]).toEqual([400, 'reserved_name', 'image']);
    expect(r.json.message).toMatch(/create container acme\/web: image freight-infra is reserved/);
    expect((await db.query("SELECT 1 FROM containers WHERE kind = 'container'")).rows).toHaveLength(0);
  });

  it('refuses it with a version and from an admin token too', async () => {
    expect((await create({ image: 'freight-infra:1' }, tenantToken)).json.code).toBe('reserved_name');
    expect((await create({ image: 'freight-infra' })).json.code).toBe('reserved_name');
  });

  it('refuses container names of the infra instances (infra-*)', async () => {
    const r = await create({ name: 'infra-green' }, tenantToken);
    expect([r.status, r.json.code, r.json.path]).toEqual([400, 'reserved_name', 'name']);
    // the name would have blocked creating network green (its infra instance is infra-green)
    expect((await call('POST', '/v1/tenants/acme/networks', { name: 'green', cidr: '10.1.0.0/24' }, tenantToken)).status).toBe(201);
  });

  it('refuses a container named infra (infra.<zone> is the name server: a second A record) and network names whose infra name would be cut', async () => {
    const r = await create({ name: 'infra' }, tenantToken);
    expect([r.status, r.json.code, r.json.path]).toEqual([400, 'reserved_name', 'name']);
    expect(r.json.message).toMatch(/infra is reserved/);
    // infra-<58 characters> would be cut to 63 and could equal another network's infra name
    const long = await call('POST', '/v1/tenants/acme/networks', { name: 'n'.repeat(58), cidr: '10.5.0.0/24' }, tenantToken);
    expect([long.status, long.json.code, long.json.path]).toEqual([400, 'reserved_name', 'name']);
    const fits = await call('POST', '/v1/tenants/acme/networks', { name: 'n'.repeat(57), cidr: '10.5.0.0/24' }, tenantToken);
    expect([fits.status, fits.json.infra.name]).toEqual([201, `infra-${'n'.repeat(57)}`]);
  });

  it('still accepts ordinary images and names; OpenAPI lists the code', async () => {
    expect((await create({ name: 'web', image: 'busybox' }, tenantToken)).status).toBe(201);
    expect((await create({ name: 'infrastructure', image: 'freight-infra-tools' }, tenantToken)).status).toBe(201);
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.components.schemas.Error.properties.code.enum).toContain('reserved_name');
  });
});
