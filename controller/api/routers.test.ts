import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { BACKENDS } from '../../test/support/backends.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { schedulePending } from '../scheduler.js';
import { migrate, type Db } from '../store/db.js';
import { compileView } from '../view/compile.js';
import { loadState } from '../view/load.js';
import { readChanges } from '../view/load.js';
import { resumeOps } from '../view/diff.js';
import { injector } from '../../test/support/inject.js';

const ADMIN = 'admin-secret-for-router-tests';
const log = pino({ level: 'silent' });

describe.each(BACKENDS)('routers API on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  const { call, ok } = injector(() => app, ADMIN);
  let acme = '';
  let other = '';

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false, auditOptions: { authFailureEveryMs: 0 } });
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('n1', '198.18.0.1', true), ('n2', '198.18.0.2', true)");
    for (const t of ['acme', 'other']) await ok('POST', '/v1/tenants', { name: t });
    acme = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token;
    other = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'other' })).token;
    await ok('POST', '/v1/tenants/acme/networks', { name: 'web', cidr: '10.1.0.0/24' }, acme);
    await ok('POST', '/v1/tenants/acme/networks', { name: 'db', cidr: '10.2.0.0/24', gateway: '10.2.0.254' }, acme);
    await ok('POST', '/v1/tenants/acme/networks', { name: 'sec', cidr: '10.3.0.0/24', type: 'ipsec' }, acme);
    await ok('POST', '/v1/tenants/other/networks', { name: 'web', cidr: '10.1.0.0/24' }, other);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('creates, attaches (gateway reserved when unset), refuses conflicts and deletes only when empty', async () => {
    const r1 = await call('POST', '/v1/tenants/acme/routers', { name: 'r1' }, acme);
    expect([r1.status, r1.json]).toMatchObject([201, { tenant: 'acme', name: 'r1', external: false, networks: [] }]);
    expect(r1.json.slot).toBeUndefined(); // cluster-wide numbering stays internal
    expect((await call('POST', '/v1/tenants/acme/routers', { name: 'r1' }, acme)).json.code).toBe('conflict');
    const bad = await call('POST', '/v1/tenants/acme/routers', { name: 'r2', external: 'yes' }, acme);
    expect([bad.status, bad.json.path]).toEqual([400, 'external']);

    const a = await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'web' }, acme);
    expect(a.networks).toEqual([{ name: 'web', cidr: '10.1.0.0/24', gateway: '10.1.0.1' }]);
    await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'web' }, acme); // again: no-op
    const b = await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'db' }, acme);
    expect(b.networks.map((n: { gateway: string }) => n.gateway)).toEqual(['10.2.0.254', '10.1.0.1']);
    expect((await ok('GET', '/v1/tenants/acme/networks/web', undefined, acme)).gateway).toBe('10.1.0.1');

    await ok('POST', '/v1/tenants/acme/routers', { name: 'r2', external: true }, acme);
    const taken = await call('POST', '/v1/tenants/acme/routers/r2/attach', { network: 'web' }, acme);
    expect([taken.status, taken.json.code, taken.json.path]).toEqual([409, 'conflict', 'network']);
    const ipsec = await call('POST', '/v1/tenants/acme/routers/r2/attach', { network: 'sec' }, acme);
    expect([ipsec.status, ipsec.json.path]).toEqual([400, 'network']);
    const missing = await call('POST', '/v1/tenants/acme/routers/r2/attach', { network: 'nope' }, acme);
    expect([missing.status, missing.json.code]).toEqual([404, 'network_not_found']);

    const used = await call('DELETE', '/v1/tenants/acme/routers/r1', undefined, acme);
    expect([used.status, used.json.code]).toEqual([409, 'in_use']);
    expect((await ok('GET', '/v1/tenants/acme/routers', undefined, acme)).items.map((r: { name: string }) => r.name)).toEqual(['r1', 'r2']);
    expect((await ok('PATCH', '/v1/tenants/acme/routers/r1', { external: true }, acme)).external).toBe(true);
    expect((await call('PATCH', '/v1/tenants/acme/routers/r1', { slot: 3 }, acme)).status).toBe(400);
  });

  it('keeps tenants apart: another tenant sees, attaches and deletes nothing of acme', async () => {
    expect((await call('GET', '/v1/tenants/acme/routers', undefined, other)).status).toBe(404);
    expect((await call('POST', '/v1/tenants/acme/routers/r2/attach', { network: 'web' }, other)).status).toBe(404);
    await ok('POST', '/v1/tenants/other/routers', { name: 'r1' }, other);
    // its own router cannot take acme's network: names resolve in the caller's tenant only
    const a = await ok('POST', '/v1/tenants/other/routers/r1/attach', { network: 'web' }, other);
    expect(a.networks).toEqual([{ name: 'web', cidr: '10.1.0.0/24', gateway: '10.1.0.1' }]);
    expect((await ok('GET', '/v1/tenants/acme/routers/r1', undefined, acme)).networks).toHaveLength(2);
    // the database refuses a router of another tenant even where the API would not ask
    const { rows } = await db.query<{ id: string }>(
      "SELECT r.id FROM routers r JOIN tenants t ON t.id = r.tenant_id WHERE t.name = 'other'",
    );
    await expect(db.query("UPDATE networks SET router_id = $1 WHERE name = 'db'", [rows[0].id])).rejects.toThrow(/another tenant/);
  });

  it('compiles every network of a router into the views of nodes hosting any of them, and resumes across attach', async () => {
    await ok('POST', '/v1/tenants/acme/containers', { name: 'w1', image: 'busybox', networks: ['web'], node: 'n1' });
    await ok('POST', '/v1/tenants/acme/containers', { name: 'd1', image: 'busybox', networks: ['db'], node: 'n2' });
    await schedulePending(db);
    const { state, revision } = await loadState(db, null);
    const v1 = compileView(state, 'n1', revision);
    const names = Object.values(v1.networks).map((n) => `${n.tenant}/${n.name}`);
    expect(names).toEqual(expect.arrayContaining(['acme/web', 'acme/db']));
    expect(names).not.toContain('other/web'); // same CIDR, other tenant, other router
    const web = Object.values(v1.networks).find((n) => n.name === 'web' && n.tenant === 'acme')!;
    expect(web.router).toMatchObject({ name: 'r1', external: true });
    expect(web.gateway).toBe('10.1.0.1');
    // d1 (db, on n2) is in n1's IP/MAC table: n1 routes to it directly
    expect(Object.values(v1.endpoints).map((e) => e.name)).toEqual(expect.arrayContaining(['w1', 'd1']));

    // detach db: an agent resuming from before learns that db and d1 are gone
    await ok('POST', '/v1/tenants/acme/routers/r1/detach', { network: 'db' }, acme);
    const after = await loadState(db, null);
    const rows = await readChanges(db, revision);
    const n1 = after.state.nodeIdByName.get('n1')!;
    const cur = compileView(after.state, 'n1', after.revision);
    const ops = resumeOps(after.state, n1, rows, cur);
    const dbId = Object.values(v1.networks).find((n) => n.name === 'db')!.id;
    expect(ops).toContainEqual({ kind: 'networks', id: dbId, value: undefined });
    const d1 = Object.values(v1.endpoints).find((e) => e.name === 'd1')!;
    expect(ops).toContainEqual({ kind: 'endpoints', id: d1.id, value: undefined });
    expect(cur.networks[dbId]).toBeUndefined();
  });

  it('audits router calls and documents them in OpenAPI', async () => {
    await (app as unknown as { audit: { flush(): Promise<void> } }).audit.flush();
    const { rows } = await db.query<{ action: string; object: string; method: string }>(
      "SELECT action, object, method FROM audit_log WHERE action LIKE '%router%' OR action LIKE '%tach network%' ORDER BY id",
    );
    expect(rows.map((r) => r.action)).toEqual(
      expect.arrayContaining(['create router', 'attach network', 'detach network', 'update router']),
    );
    expect(rows.find((r) => r.action === 'attach network')?.object).toBe('router acme/r1');
    const doc = (await call('GET', '/openapi.json')).json;
    expect(Object.keys(doc.paths['/v1/tenants/{tenant}/routers/{router}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(doc.paths['/v1/tenants/{tenant}/routers/{router}/attach'].post.requestBody).toBeTruthy();
    await ok('POST', '/v1/tenants/acme/routers/r2/attach', { network: 'db' }, acme);
    await ok('POST', '/v1/tenants/acme/routers/r2/detach', { network: 'db' }, acme);
    expect((await call('DELETE', '/v1/tenants/acme/routers/r2', undefined, acme)).status).toBe(204);
    expect((await call('GET', '/v1/tenants/acme/routers/r2', undefined, acme)).json.code).toBe('router_not_found');
  });
});
