import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { BACKENDS } from '../../test/support/backends.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, type Db } from '../store/db.js';
import { compileView } from '../view/compile.js';
import { loadState } from '../view/load.js';
import { injector } from '../../test/support/inject.js';

/**
 * `POST …/containers/:name/networks` and `DELETE …/networks/:network` (docker network
 * connect/disconnect): the endpoint at the next interface index, the view of the container's node
 * and of the network's other nodes, the checks, audit, and nothing written on a refusal.
 */
const ADMIN = 'admin-secret-for-attach-tests';
const log = pino({ level: 'silent' });

describe.each(BACKENDS)('container attach/detach on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let acme = '';
  let other = '';
  const { call, ok } = injector(() => app, ADMIN);
  const attach = (name: string, body: unknown, token = acme) => call('POST', `/v1/tenants/acme/containers/${name}/networks`, body, token);
  const detach = (name: string, net: string, token = acme) =>
    call('DELETE', `/v1/tenants/acme/containers/${name}/networks/${net}`, undefined, token);
  const view = async (node: string) => {
    const { state, revision } = await loadState(db, null);
    return compileView(state, node, revision);
  };
  const endpointRows = async () => Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM endpoints')).rows[0].n);

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
    await ok('POST', '/v1/tenants/acme/networks', { name: 'db', cidr: '10.2.0.0/24' }, acme);
    await ok('POST', '/v1/tenants/acme/containers', { name: 'a', image: 'busybox', networks: ['web'], node: 'n1' });
    await ok('POST', '/v1/tenants/acme/containers', { name: 'b', image: 'busybox', networks: ['db'], node: 'n2' });
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('attaches a network as the next interface, with a chosen address, into the views of both nodes', async () => {
    expect(Object.values((await view('n1')).networks).map((n) => n.name)).toEqual(['web']);
    const r = await attach('a', { network: 'db', ip: '10.2.0.77' });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.endpoints).toEqual([
      { network: 'web', ip: expect.any(String), mac: expect.any(String) },
      { network: 'db', ip: '10.2.0.77', mac: expect.stringMatching(/^02:/) },
    ]);
    expect(r.json.updatedAt > r.json.createdAt).toBe(true);
    const v1 = await view('n1');
    const mine = Object.values(v1.endpoints).find((e) => e.name === 'a' && e.ip === '10.2.0.77')!;
    expect([mine.ifindex, mine.node, mine.plugged]).toEqual([1, 'n1', true]);
    // the interface it was created with is left to the container's own DHCP client
    expect(Object.values(v1.endpoints).find((e) => e.name === 'a' && e.ifindex === 0)!.plugged).toBeUndefined();
    expect(Object.values(v1.networks).map((n) => n.name)).toEqual(expect.arrayContaining(['web', 'db']));
    // b's node learns a's new address (FDB, neighbour entry, flood list)
    const v2 = await view('n2');
    expect(Object.values(v2.endpoints).some((e) => e.name === 'a' && e.ip === '10.2.0.77' && e.vtep === '198.18.0.1')).toBe(true);
    expect(Object.values(v2.networks).find((n) => n.name === 'db')!.flood).toContain('198.18.0.1');
  });

  it('refuses with a code and writes nothing: twice, unknown, taken, infra, another tenant', async () => {
    const before = await endpointRows();
    const cases: Array<[string, unknown, string, number, string, string | undefined]> = [
      ['a', { network: 'db' }, acme, 409, 'conflict', 'network'],
      ['a', { network: 'nope' }, acme, 404, 'network_not_found', undefined],
      ['nope', { network: 'db' }, acme, 404, 'container_not_found', undefined],
      ['b', { network: 'web', ip: (await ok('GET', '/v1/tenants/acme/containers/a')).endpoints[0].ip }, acme, 409, 'address_in_use', 'ip'],
      ['b', { network: 'web', ip: '10.1.0.254' }, acme, 409, 'address_reserved', 'ip'],
      ['b', { network: 'web', mac: '03:00:00:00:00:01' }, acme, 400, 'invalid', 'mac'],
      ['infra-web', { network: 'db' }, acme, 404, 'container_not_found', undefined],
      ['a', { network: 'db' }, other, 404, 'tenant_not_found', undefined],
    ];
    for (const [name, body, token, status, code, path] of cases) {
      const r = await attach(name, body, token);
      expect([r.status, r.json.code, r.json.path], `${name} ${JSON.stringify(body)}`).toEqual([status, code, path]);
    }
    expect(await endpointRows()).toBe(before);
    const msg = (await attach('b', { network: 'web', ip: '10.1.0.254' })).json.message;
    expect(msg).toMatch(
      /^attach container acme\/b to network web: network web: 10\.1\.0\.254 is the address of the network's infra instance/,
    );
  });

  it('at most 8 interfaces (eth0…eth7)', async () => {
    for (let i = 3; i <= 9; i++) await ok('POST', '/v1/tenants/acme/networks', { name: `n${i}`, cidr: `10.${i}.0.0/24` }, acme);
    await ok('POST', '/v1/tenants/acme/containers', { name: 'many', image: 'busybox', networks: ['web'], node: 'n1' });
    for (let i = 3; i <= 9; i++) expect((await attach('many', { network: `n${i}` })).status).toBe(200);
    const r = await attach('many', { network: 'db' });
    expect([r.status, r.json.code]).toEqual([409, 'conflict']);
    expect(r.json.message).toMatch(/8 networks/);
    // a freed index is taken again
    expect((await detach('many', 'n5')).status).toBe(200);
    const again = await ok('POST', '/v1/tenants/acme/containers/many/networks', { network: 'db' }, acme);
    const idx = (
      await db.query<{ ifindex: number }>(
        "SELECT e.ifindex FROM endpoints e JOIN networks n ON n.id = e.network_id JOIN containers c ON c.id = e.container_id WHERE c.name = 'many' AND n.name = 'db'",
      )
    ).rows[0].ifindex;
    expect([again.endpoints.length, idx]).toEqual([8, 3]);
  });

  it('detaches: the endpoint leaves both views, the address is free; not attached 404, the last network 409', async () => {
    const r = await detach('a', 'db');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.endpoints.map((e: { network: string }) => e.network)).toEqual(['web']);
    expect(Object.values((await view('n1')).endpoints).some((e) => e.name === 'a' && e.ip === '10.2.0.77')).toBe(false);
    expect(Object.values((await view('n2')).endpoints).some((e) => e.name === 'a')).toBe(false);
    const again = await detach('a', 'db');
    expect([again.status, again.json.code]).toEqual([404, 'not_found']);
    const last = await detach('a', 'web');
    expect([last.status, last.json.code]).toEqual([409, 'conflict']);
    expect((await detach('a', 'nope')).json.code).toBe('network_not_found');
    expect((await detach('a', 'web', other)).json.code).toBe('tenant_not_found');
    expect((await attach('b', { network: 'web', ip: '10.1.0.50' })).status).toBe(200);
    expect((await attach('a', { network: 'db', ip: '10.2.0.77' })).status).toBe(200); // freed by the detach
  });

  it('keeps a network on a router while the container publishes ports', async () => {
    await ok('POST', '/v1/tenants/acme/routers', { name: 'r1' }, acme);
    await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'n9' }, acme);
    await ok('POST', '/v1/tenants/acme/containers', {
      name: 'pub',
      image: 'busybox',
      networks: ['n9', 'n8'],
      node: 'n1',
      publish: [{ hostPort: 8080, port: 80 }],
    });
    const r = await detach('pub', 'n9');
    expect([r.status, r.json.code]).toEqual([409, 'conflict']);
    expect(r.json.message).toMatch(/publishes ports/);
    expect((await detach('pub', 'n8')).status).toBe(200);
  });

  it('OpenAPI documents both operations with the codes they answer', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const post = doc.paths['/v1/tenants/{tenant}/containers/{name}/networks'].post;
    expect(post.responses['200']).toBeDefined();
    expect(post.responses['409'].description.split(', ')).toEqual(
      expect.arrayContaining(['conflict', 'address_in_use', 'address_reserved', 'mac_in_use', 'node_lacks_physical_network']),
    );
    const del = doc.paths['/v1/tenants/{tenant}/containers/{name}/networks/{network}'].delete;
    expect(del.responses['404'].description.split(', ')).toEqual(
      expect.arrayContaining(['not_found', 'network_not_found', 'container_not_found']),
    );
    expect(del.responses['409'].description).toContain('conflict');
  });

  it('is audited: who attached or detached what', async () => {
    const { items } = await ok('GET', '/v1/audit?limit=200');
    const rows = (items as Array<{ action: string; object: string; outcome: string; actor: string }>).filter((e) =>
      /^(attach|detach) container$/.test(e.action),
    );
    expect(rows.some((e) => e.action === 'attach container' && e.outcome === 'success' && e.actor.startsWith('tenant:'))).toBe(true);
    expect(rows.some((e) => e.action === 'detach container' && e.outcome === 'failure')).toBe(true);
  });
});
