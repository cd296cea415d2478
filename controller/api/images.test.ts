/**
 * Image repositories and RPM image references through the REST API, on PostgreSQL,
 * against real yum repositories (rpmbuild + createrepo_c) served on loopback.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { publishRepo } from '../../images/publish.js';
import { busyboxTree, haveTools, serveDir, tmpBase } from '../../test/images/support.js';
import { freshDatabase } from '../../test/support/pg.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';

const ADMIN = 'admin-secret-for-image-tests';
const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBGV...\n-----END PGP PUBLIC KEY BLOCK-----\n';
const missing = haveTools();
if (missing) console.warn(`skipping image API tests: ${missing}`);

describe.skipIf(missing)('image repositories and RPM images through the API (PostgreSQL)', () => {
  let tmp: string;
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  let app: FastifyInstance;
  let repo: { url: string; close(): Promise<void> };
  let repoDir: string;
  let globexToken: string;
  const call = async (method: string, url: string, body?: unknown, token = ADMIN) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, json: res.body ? res.json() : undefined };
  };
  const build = async (name: string, version: string) =>
    (await buildImage({ manifest: { name, version, command: ['/bin/sh'] }, from: path.join(tmp, 'tree'), outDir: path.join(tmp, 'out') }))
      .rpm;

  beforeAll(async () => {
    tmp = await tmpBase();
    await busyboxTree(path.join(tmp, 'tree'));
    repoDir = path.join(tmp, 'repo');
    await publishRepo(repoDir, [await build('busybox', '1')]);
    repo = await serveDir(repoDir);
    fresh = await freshDatabase('freight_image_api');
    db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log: pino({ level: 'silent' }), push: false, images: { allowCidrs: ['127.0.0.1/32'] } });
    for (const t of ['acme', 'globex']) {
      expect((await call('POST', '/v1/tenants', { name: t })).status).toBe(201);
      expect((await call('POST', `/v1/tenants/${t}/networks`, { name: 'net', cidr: '10.0.0.0/24' })).status).toBe(201);
    }
    globexToken = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'globex' })).json.token;
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await db?.close();
    await fresh?.drop();
    await repo?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('stores a repository per tenant, returns its public key, refuses duplicates, and confines tenants', async () => {
    const add = await call('POST', '/v1/tenants/acme/image-repositories', { name: 'main', url: repo.url, publicKey: KEY, allowHttp: true });
    expect(add.status).toBe(201);
    expect(add.json).toMatchObject({ tenant: 'acme', name: 'main', url: repo.url, publicKey: KEY });
    expect(
      (await call('POST', '/v1/tenants/acme/image-repositories', { name: 'main', url: `${repo.url}x/`, publicKey: KEY, allowHttp: true }))
        .json.code,
    ).toBe('conflict');
    expect((await call('POST', '/v1/tenants/acme/image-repositories', { name: 'bad', url: 'ftp://x/', publicKey: KEY })).status).toBe(400);
    expect((await call('GET', '/v1/tenants/acme/image-repositories')).json.items.map((r: { name: string }) => r.name)).toEqual(['main']);
    expect((await call('GET', '/v1/tenants/acme/image-repositories/main')).json.publicKey).toBe(KEY);
    // globex's token: acme's repositories do not exist for it
    for (const [m, u] of [
      ['GET', '/v1/tenants/acme/image-repositories'],
      ['GET', '/v1/tenants/acme/image-repositories/main'],
      ['DELETE', '/v1/tenants/acme/image-repositories/main'],
    ]) {
      const r = await call(m, u, undefined, globexToken);
      expect(r.status, `${m} ${u}`).toBe(404);
    }
    expect(
      (await call('POST', '/v1/tenants/acme/image-repositories', { name: 'evil', url: 'http://x/', publicKey: KEY }, globexToken)).status,
    ).toBe(404);
    expect((await call('GET', '/v1/tenants/globex/image-repositories', undefined, globexToken)).json.items).toEqual([]);
    expect((await call('GET', '/v1/tenants/acme/image-repositories/main')).status).toBe(200);
    const log = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM change_log WHERE kind = 'image_repositories'`);
    expect(Number(log.rows[0].n)).toBeGreaterThan(0);
  });

  it('pins an image offered by the tenant’s repositories to its newest version; other names stay directory images', async () => {
    const run = (tenant: string, name: string, image: string) =>
      call('POST', `/v1/tenants/${tenant}/containers`, { name, image, networks: ['net'] });
    expect((await run('acme', 'web', 'busybox')).json.image).toBe('busybox:1');
    expect((await run('acme', 'pinned', 'busybox:1')).json.image).toBe('busybox:1');
    expect((await run('acme', 'local', 'alpine')).json.image).toBe('alpine');
    const miss = await run('acme', 'nope', 'busybox:9');
    expect([miss.status, miss.json.code]).toEqual([404, 'image_not_found']);
    // globex has no repositories: its images are directory images, versions are refused
    expect((await run('globex', 'g', 'busybox')).json.image).toBe('busybox');
    expect((await run('globex', 'g2', 'busybox:1')).json.code).toBe('image_not_found');
  });

  it('lists outdated containers and upgrades one: new pinned image, generation + 1, same addresses', async () => {
    await publishRepo(repoDir, [await build('busybox', '2')]);
    const out = await call('GET', '/v1/tenants/acme/images/outdated');
    expect(out.json.items).toEqual([
      { tenant: 'acme', container: 'pinned', name: 'busybox', current: '1', newest: '2' },
      { tenant: 'acme', container: 'web', name: 'busybox', current: '1', newest: '2' },
    ]);
    const before = await call('GET', '/v1/tenants/acme/containers/web');
    const gen = async () =>
      (await db.query<{ generation: number }>(`SELECT generation FROM containers WHERE name = 'web'`)).rows[0].generation;
    const g0 = await gen();
    const up = await call('POST', '/v1/tenants/acme/containers/web/upgrade', {});
    expect(up.status).toBe(200);
    expect(up.json.image).toBe('busybox:2');
    expect(up.json.endpoints).toEqual(before.json.endpoints);
    expect(await gen()).toBe(g0 + 1);
    // already there: nothing changes
    await call('POST', '/v1/tenants/acme/containers/web/upgrade', { version: '2' });
    expect(await gen()).toBe(g0 + 1);
    expect((await call('POST', '/v1/tenants/acme/containers/pinned/upgrade', { version: '7' })).json.code).toBe('image_not_found');
    expect((await call('POST', '/v1/tenants/acme/containers/local/upgrade', {})).json.code).toBe('conflict');
    expect((await call('POST', '/v1/tenants/acme/containers/web/upgrade', {}, globexToken)).status).toBe(404);
    expect((await call('GET', '/v1/tenants/acme/images/outdated')).json.items.map((o: { container: string }) => o.container)).toEqual([
      'pinned',
    ]);
  }, 60_000);

  it('answers 503 image_repo_unavailable within the timeout when a repository is unreachable', async () => {
    await mkdir(path.join(tmp, 'dead'), { recursive: true });
    const dead = await serveDir(path.join(tmp, 'dead')); // no repodata: 404 on repomd.xml
    expect(
      (await call('POST', '/v1/tenants/globex/image-repositories', { name: 'dead', url: dead.url, publicKey: KEY, allowHttp: true }))
        .status,
    ).toBe(201);
    const r = await call('POST', '/v1/tenants/globex/containers', { name: 'x', image: 'busybox', networks: ['net'] });
    expect([r.status, r.json.code]).toEqual([503, 'image_repo_unavailable']);
    await dead.close();
    const t0 = Date.now();
    const r2 = await call('POST', '/v1/tenants/globex/containers', { name: 'x', image: 'busybox', networks: ['net'] });
    expect([r2.status, r2.json.code]).toEqual([503, 'image_repo_unavailable']);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect((await call('DELETE', '/v1/tenants/globex/image-repositories/dead')).status).toBe(204);
    expect((await call('DELETE', '/v1/tenants/globex/image-repositories/dead')).json.code).toBe('image_repo_not_found');
  });
});
