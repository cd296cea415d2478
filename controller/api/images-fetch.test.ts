/**
 * Repository fetches through the REST API (PostgreSQL): the controller's allow-list,
 * admin-only allowHttp, per-tenant cap, generic errors, typed 4xx for hostile content,
 * rollback refused from the revision kept in the repository row, repomd.xml.asc checked.
 */
import { cp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { publishRepo } from '../../images/publish.js';
import { exportPublicKey } from '../../images/sign.js';
import { busyboxTree, haveTools, makeKey, serveDir, serveWith, stopAgents, tmpBase, type Served } from '../../test/images/support.js';
import { freshDatabase } from '../../test/support/pg.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';

const ADMIN = 'admin-secret-for-image-fetch-tests';
const missing = haveTools();
if (missing) console.warn(`skipping image fetch API tests: ${missing}`);

describe.skipIf(missing)('repository fetches through the API (PostgreSQL)', () => {
  let tmp: string;
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  let app: FastifyInstance; // --repo-allow-cidr 127.0.0.1/32, at most 3 repositories per tenant
  let strict: FastifyInstance; // no allow-list
  let repoDir: string;
  let repo: Served;
  let publicKey: string;
  let strangerKey: { keyId: string; gnupgHome: string };
  const key = { keyId: '', gnupgHome: '' };
  const closers: Array<() => Promise<void>> = [];
  const tokens: Record<string, string> = {};

  const call = async (a: FastifyInstance, method: string, url: string, body?: unknown, token = ADMIN) => {
    const res = await a.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, json: res.body ? res.json() : undefined };
  };
  const addRepo = (tenant: string, name: string, url: string, extra: object = { allowHttp: true }) =>
    call(app, 'POST', `/v1/tenants/${tenant}/image-repositories`, { name, url, publicKey, ...extra });
  const run = (a: FastifyInstance, tenant: string, name: string, token = ADMIN) =>
    call(a, 'POST', `/v1/tenants/${tenant}/containers`, { name, image: 'busybox', networks: ['net'] }, token);
  const build = async (version: string) =>
    (
      await buildImage({
        manifest: { name: 'busybox', version, command: ['/bin/sh'] },
        from: path.join(tmp, 'tree'),
        outDir: path.join(tmp, 'out'),
      })
    ).rpm;

  beforeAll(async () => {
    tmp = await tmpBase();
    Object.assign(key, await makeKey(tmp, 'api-repo@freight.invalid'));
    strangerKey = await makeKey(tmp, 'api-stranger@freight.invalid');
    publicKey = await exportPublicKey(key);
    await busyboxTree(path.join(tmp, 'tree'));
    repoDir = path.join(tmp, 'repo');
    await publishRepo(repoDir, [await build('1')], key);
    repo = await serveDir(repoDir);
    closers.push(repo.close);
    fresh = await freshDatabase('freight_image_fetch');
    db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    const log = pino({ level: 'silent' });
    app = await buildApp({ db, log, push: false, images: { allowCidrs: ['127.0.0.1/32'], maxReposPerTenant: 3 } });
    strict = await buildApp({ db, log, push: false, images: {} });
    for (const t of ['acme', 'globex', 'initech', 'umbrella', 'hooli']) {
      expect((await call(app, 'POST', '/v1/tenants', { name: t })).status).toBe(201);
      expect((await call(app, 'POST', `/v1/tenants/${t}/networks`, { name: 'net', cidr: '10.0.0.0/24' })).status).toBe(201);
      tokens[t] = (await call(app, 'POST', '/v1/tokens', { kind: 'tenant', tenant: t })).json.token;
    }
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await strict?.close();
    await db?.close();
    await fresh?.drop();
    for (const c of closers) await c();
    if (tmp) await stopAgents(tmp);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('allowHttp is the admin’s: a tenant setting it gets 403, plain http without it 400 repo_url_insecure', async () => {
    const body = { name: 'mine', url: repo.url, publicKey };
    const t = await call(app, 'POST', '/v1/tenants/globex/image-repositories', { ...body, allowHttp: true }, tokens.globex);
    expect([t.status, t.json.code, t.json.path]).toEqual([403, 'forbidden', 'allowHttp']);
    for (const token of [tokens.globex, ADMIN]) {
      const r = await call(app, 'POST', '/v1/tenants/globex/image-repositories', body, token);
      expect([r.status, r.json.code, r.json.path]).toEqual([400, 'repo_url_insecure', 'url']);
    }
    const ok = await call(
      app,
      'POST',
      '/v1/tenants/globex/image-repositories',
      { ...body, url: 'https://repo.example.org/x/' },
      tokens.globex,
    );
    expect([ok.status, ok.json.allowHttp]).toEqual([201, false]);
    expect(
      (await call(app, 'POST', '/v1/tenants/globex/image-repositories', { ...body, name: 'adm', allowHttp: true })).json.allowHttp,
    ).toBe(true);
  });

  it('refuses a repository on 127.0.0.1 without the allow-list, generically and without connecting; reads it with it', async () => {
    expect((await addRepo('acme', 'main', repo.url)).status).toBe(201);
    repo.hits.length = 0;
    const r = await run(strict, 'acme', 'web');
    expect([r.status, r.json.code]).toEqual([503, 'image_repo_unavailable']);
    expect(r.json.message).toBe(`create container acme/web: image repository main (${repo.url}) of acme unreachable`);
    expect(repo.hits).toEqual([]);
    const ok = await run(app, 'acme', 'web');
    expect([ok.status, ok.json.image]).toEqual([201, 'busybox:1']);
    const row = (
      await db.query<{ metadata_revision: string; metadata_signed: boolean }>(
        `SELECT metadata_revision, metadata_signed FROM image_repositories WHERE name = 'main'`,
      )
    ).rows[0];
    expect(Number(row.metadata_revision)).toBeGreaterThan(1_700_000_000);
    expect(row.metadata_signed).toBe(true);
  });

  it('echoes nothing of an internal service: no HTTP status, no body', async () => {
    const internal = await serveWith('127.0.0.1', (_req, res) => res.writeHead(500).end('secret admin console'));
    closers.push(internal.close);
    expect((await addRepo('initech', 'int', internal.url)).status).toBe(201);
    const r = await run(app, 'initech', 'x');
    expect([r.status, r.json.code]).toEqual([503, 'image_repo_unavailable']);
    expect(r.json.message).not.toMatch(/500|HTTP|secret|ECONN/);
    expect((await call(app, 'DELETE', '/v1/tenants/initech/image-repositories/int')).status).toBe(204);
  });

  it('answers 4xx image_repo_invalid for hostile XML and bad character references, never 500', async () => {
    for (const [name, xml] of [
      ['charref', '<repomd><data type="primary">&#99999999;</data></repomd>'],
      ['nested', '<repomd>' + '<data><x>'.repeat(200_000)],
    ]) {
      const srv = await serveWith('127.0.0.1', (req, res) =>
        req.url === '/repodata/repomd.xml' ? res.writeHead(200).end(xml) : res.writeHead(404).end(),
      );
      closers.push(srv.close);
      expect((await addRepo('umbrella', name, srv.url)).status).toBe(201);
      const r = await run(app, 'umbrella', `c-${name}`);
      expect([r.status, r.json.code], name).toEqual([422, 'image_repo_invalid']);
      expect((await call(app, 'DELETE', `/v1/tenants/umbrella/image-repositories/${name}`)).status).toBe(204);
    }
  });

  it('refuses a rolled-back repository (an older, correctly signed repomd.xml) with 409 image_repo_rollback', async () => {
    const dir = path.join(tmp, 'rollback');
    await cp(repoDir, dir, { recursive: true });
    const srv = await serveDir(dir);
    closers.push(srv.close);
    expect((await addRepo('hooli', 'main', srv.url)).status).toBe(201);
    expect((await run(app, 'hooli', 'a')).json.image).toBe('busybox:1');
    const old = path.join(tmp, 'rollback-old');
    await cp(path.join(dir, 'repodata'), old, { recursive: true });
    await new Promise((r) => setTimeout(r, 1100)); // createrepo_c's revision counts seconds
    await publishRepo(dir, [await build('2')], key);
    const changes = async () =>
      Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM change_log WHERE kind = 'image_repositories'`)).rows[0].n);
    const c0 = await changes();
    expect((await run(app, 'hooli', 'b', tokens.hooli)).json.image).toBe('busybox:2'); // the tenant's own scope records it too
    expect(await changes()).toBe(c0); // remembering a revision is no view change for the nodes
    const rev = async () =>
      Number(
        (
          await db.query<{ r: string }>(
            `SELECT metadata_revision AS r FROM image_repositories r JOIN tenants t ON t.id = r.tenant_id WHERE t.name = 'hooli'`,
          )
        ).rows[0].r,
      );
    const newest = await rev();
    // the attacker (or a stale mirror) serves the old, validly signed metadata again
    await rm(path.join(dir, 'repodata'), { recursive: true });
    await cp(old, path.join(dir, 'repodata'), { recursive: true });
    const r = await run(app, 'hooli', 'c');
    expect([r.status, r.json.code]).toEqual([409, 'image_repo_rollback']);
    expect(await rev()).toBe(newest);
    expect((await call(app, 'GET', '/v1/tenants/hooli/images/outdated', undefined, tokens.hooli)).json.code).toBe('image_repo_rollback');
  }, 60_000);

  it('refuses a bad repomd.xml.asc with 422 image_repo_bad_signature', async () => {
    const dir = path.join(tmp, 'badsig');
    await cp(repoDir, dir, { recursive: true });
    await publishRepo(dir, [], strangerKey);
    const srv = await serveDir(dir);
    closers.push(srv.close);
    expect((await addRepo('initech', 'signed', srv.url)).status).toBe(201);
    const r = await run(app, 'initech', 'sig');
    expect([r.status, r.json.code]).toEqual([422, 'image_repo_bad_signature']);
    await writeFile(path.join(dir, 'repodata', 'repomd.xml.asc'), 'garbage');
    expect((await run(app, 'initech', 'sig')).json.code).toBe('image_repo_bad_signature');
  });

  it('caps repositories per tenant (409 too_many_image_repos), also under concurrent adds', async () => {
    const add = (i: number) =>
      call(
        app,
        'POST',
        '/v1/tenants/umbrella/image-repositories',
        { name: `r${i}`, url: `https://r${i}.example.org/`, publicKey },
        tokens.umbrella,
      );
    const all = await Promise.all([0, 1, 2, 3, 4, 5].map(add));
    expect(all.filter((r) => r.status === 201)).toHaveLength(3);
    expect(all.filter((r) => r.status === 409).map((r) => r.json.code)).toEqual([
      'too_many_image_repos',
      'too_many_image_repos',
      'too_many_image_repos',
    ]);
    expect((await call(app, 'GET', '/v1/tenants/umbrella/image-repositories', undefined, tokens.umbrella)).json.items).toHaveLength(3);
  });
});
