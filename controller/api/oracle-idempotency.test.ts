import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { BACKENDS } from '../../test/support/backends.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, type Db } from '../store/db.js';

const ADMIN = 'oracle-admin-token';
const log = pino({ level: 'silent' });

describe.each(BACKENDS)('no cross-tenant oracle, and Idempotency-Key, on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let acme: string; // acme's tenant token
  let acme2: string; // a second token of acme
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, token = ADMIN, key?: string) => {
    const res = await app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(key ? { 'idempotency-key': key } : {}),
      },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: res.statusCode,
      json: res.body ? res.json() : undefined,
      body: res.body,
      replayed: res.headers['idempotent-replayed'],
    };
  };
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`, params)).rows[0].n);

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false });
    for (const name of ['acme', 'other']) expect((await call('POST', '/v1/tenants', { name })).status).toBe(201);
    acme = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).json.token;
    acme2 = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).json.token;
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('secret-node', '198.18.0.1', true)");
    // another tenant holds VNI 500
    expect((await call('POST', '/v1/tenants/other/networks', { name: 'blue', cidr: '10.0.0.0/24', vni: 500 })).status).toBe(201);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('a tenant token choosing a VNI or pinning a node gets 403 admin_only_field, whether the VNI or node exists or not', async () => {
    for (const vni of [500, 501]) {
      const r = await call('POST', '/v1/tenants/acme/networks', { name: 'n', cidr: '10.1.0.0/24', vni }, acme);
      expect([r.status, r.json.code, r.json.path]).toEqual([403, 'admin_only_field', 'vni']);
      expect(r.json.message).not.toMatch(/another|used/);
    }
    expect((await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.1.0.0/24' }, acme)).status).toBe(201);
    for (const node of ['secret-node', 'no-such-node']) {
      const r = await call('POST', '/v1/tenants/acme/containers', { name: 'c', image: 'busybox', networks: ['blue'], node }, acme);
      expect([r.status, r.json.code, r.json.path], node).toEqual([403, 'admin_only_field', 'node']);
      expect(r.json.message).not.toContain(node);
    }
    // another tenant's URL still answers 404 first, as for any body
    const foreign = await call('POST', '/v1/tenants/other/networks', { name: 'x', cidr: '10.2.0.0/24', vni: 501 }, acme);
    expect([foreign.status, foreign.json.code]).toEqual([404, 'tenant_not_found']);
    expect(await count("networks WHERE name = 'n'")).toBe(0);
    expect(await count("containers WHERE name = 'c'")).toBe(0);
  });

  it('an admin token still chooses VNIs and nodes', async () => {
    const dup = await call('POST', '/v1/tenants/acme/networks', { name: 'red', cidr: '10.3.0.0/24', vni: 500 });
    expect([dup.status, dup.json.code]).toEqual([409, 'conflict']);
    expect((await call('POST', '/v1/tenants/acme/networks', { name: 'red', cidr: '10.3.0.0/24', vni: 501 })).json.vni).toBe(501);
    const pinned = await call('POST', '/v1/tenants/acme/containers', {
      name: 'pinned',
      image: 'busybox',
      networks: ['blue'],
      node: 'secret-node',
    });
    expect([pinned.status, pinned.json.node]).toEqual([201, 'secret-node']);
    expect(
      (await call('POST', '/v1/tenants/acme/containers', { name: 'x', image: 'busybox', networks: ['blue'], node: 'nope' })).json.code,
    ).toBe('node_not_found');
  });

  it('OpenAPI documents the admin-only fields and the Idempotency-Key header', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const post = doc.paths['/v1/tenants/{tenant}/networks'].post;
    expect(post['x-admin-only-fields']).toEqual(['vni']);
    expect(post.requestBody.content['application/json'].schema.properties.vni.description).toMatch(/admin_only_field/);
    expect(post.parameters.some((p: { name: string; in: string }) => p.name === 'Idempotency-Key' && p.in === 'header')).toBe(true);
    expect(doc.paths['/v1/tenants/{tenant}/containers'].post['x-admin-only-fields']).toEqual(['node']);
    expect(doc.paths['/v1/tenants/{tenant}/networks'].get.parameters.some((p: { name: string }) => p.name === 'Idempotency-Key')).toBe(
      false,
    );
    expect(post.responses['422']).toBeDefined();
  });

  it('a retried network create with the same key answers the first 201 again and makes one network', async () => {
    const key = 'net-green-7f3c2a91-0001';
    const body = { name: 'green', cidr: '10.4.0.0/24' };
    const first = await call('POST', '/v1/tenants/acme/networks', body, acme, key);
    expect(first.status).toBe(201);
    const again = await call('POST', '/v1/tenants/acme/networks', { cidr: '10.4.0.0/24', name: 'green' }, acme, key); // same body, keys reordered
    expect([again.status, again.body, again.replayed]).toEqual([201, first.body, 'true']);
    expect(await count("networks WHERE name = 'green'")).toBe(1);
    // without a key a retry is a second create: 409 as before
    expect((await call('POST', '/v1/tenants/acme/networks', body, acme)).status).toBe(409);
    // the same key with another body: 422, nothing created
    const other = await call('POST', '/v1/tenants/acme/networks', { name: 'green2', cidr: '10.5.0.0/24' }, acme, key);
    expect([other.status, other.json.code, other.json.path]).toEqual([422, 'idempotency_key_reused', 'Idempotency-Key']);
    // or another path
    const container = { name: 'green', image: 'busybox', networks: ['blue'] };
    expect((await call('POST', '/v1/tenants/acme/containers', container, acme, key)).json.code).toBe('idempotency_key_reused');
    expect(await count("networks WHERE name = 'green2'")).toBe(0);
    // keys belong to a token: acme's second token with the same key runs its own request
    const mine = await call('POST', '/v1/tenants/acme/networks', { name: 'green3', cidr: '10.6.0.0/24' }, acme2, key);
    expect([mine.status, mine.replayed]).toEqual([201, undefined]);
  });

  it('a retried token create returns the same token and mints one; the database keeps no readable secret', async () => {
    const before = await count('tokens');
    const key = 'tok-1b7e0c55-aa42-4c3e-9d1f';
    const a = await call('POST', '/v1/tokens', { kind: 'node', node: 'n7' }, ADMIN, key);
    const b = await call('POST', '/v1/tokens', { kind: 'node', node: 'n7' }, ADMIN, key);
    expect(a.status).toBe(201);
    expect([b.status, b.json.token, b.json.id]).toEqual([201, a.json.token, a.json.id]);
    expect(await count('tokens')).toBe(before + 1);
    const stored = (await db.query<{ answer: Uint8Array; key_hash: string }>('SELECT answer, key_hash FROM idempotency_keys')).rows;
    const secret = a.json.token as string;
    for (const r of stored) {
      expect(Buffer.from(r.answer).includes(Buffer.from(secret))).toBe(false);
      expect(Buffer.from(r.answer).includes(Buffer.from(secret.slice(4, 20)))).toBe(false);
      expect(r.key_hash).not.toContain(key);
    }
  });

  it('concurrent retries with one key create once and all get the first answer', async () => {
    const key = 'burst-0c4f9a5e-6d3b-11ef';
    const body = { name: 'burst', image: 'busybox', networks: ['blue'] };
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/v1/tenants/acme/containers', body, acme, key)));
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(201));
    expect(new Set(answers.map((r) => r.json.id)).size).toBe(1);
    expect(answers.filter((r) => r.replayed === undefined)).toHaveLength(1);
    expect(await count("containers WHERE name = 'burst'")).toBe(1);
  });

  it('replays an error answer too, refuses malformed keys, and runs again once the key expired', async () => {
    const key = 'conflict-2e9d7c1b-4455';
    const first = await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.9.0.0/24' }, acme, key);
    expect([first.status, first.json.code]).toEqual([409, 'conflict']);
    const again = await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.9.0.0/24' }, acme, key);
    expect([again.status, again.body, again.replayed]).toEqual([409, first.body, 'true']);
    for (const bad of ['short', 'x'.repeat(256), 'has space in it 0123']) {
      const r = await call('POST', '/v1/tenants/acme/networks', { name: 'k', cidr: '10.10.0.0/24' }, acme, bad);
      expect([r.status, r.json.path], bad).toEqual([400, 'Idempotency-Key']);
    }
    const foreign = await call('POST', '/v1/tenants/other/networks', { name: 'k', cidr: '10.10.0.0/24' }, acme, 'short');
    expect([foreign.status, foreign.json.code]).toEqual([404, 'tenant_not_found']);
    const tkey = 'tenant-create-5a5a5a5a5a';
    expect((await call('POST', '/v1/tenants', { name: 'temp' }, ADMIN, tkey)).status).toBe(201);
    expect((await call('DELETE', '/v1/tenants/temp')).status).toBe(204);
    expect((await call('POST', '/v1/tenants', { name: 'temp' }, ADMIN, tkey)).replayed).toBe('true'); // kept: no second tenant
    expect(await count("tenants WHERE name = 'temp'")).toBe(0);
    await db.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'");
    const later = await call('POST', '/v1/tenants', { name: 'temp' }, ADMIN, tkey);
    expect([later.status, later.replayed]).toEqual([201, undefined]);
    expect(await count("tenants WHERE name = 'temp'")).toBe(1);
  });
});
