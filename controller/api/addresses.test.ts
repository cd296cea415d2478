import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { BACKENDS } from '../../test/support/backends.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, type Db } from '../store/db.js';
import { batchMemo, createContainer, newMemo } from '../store/containers.js';
import { flushCreates } from '../store/container-insert.js';
import type { Tenant } from '../store/tenants.js';
import { schedulePending } from '../scheduler.js';
import { ContainerCreate } from '../../protocol/api.js';
import { intToIp4, ip4ToInt } from '../../protocol/addr.js';
import { compileView } from '../view/compile.js';
import { loadState } from '../view/load.js';
import { buildInfraConfig } from '../../node-agent/infra-config.js';
import { injector } from '../../test/support/inject.js';

/**
 * Chosen addresses and MACs at `container run` (docker --ip/--mac-address, Neutron --fixed-ip):
 * validated against the network, refused with a stable code and nothing written, honoured by the
 * allocator, and handed to the network's infra instance as its static DHCP binding.
 */
const ADMIN = 'admin-secret-for-address-tests';
const log = pino({ level: 'silent' });

describe.each(BACKENDS)('chosen addresses on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let acme = '';
  const { call, ok } = injector(() => app, ADMIN);
  const run = (name: string, networks: unknown[], token = acme) =>
    call('POST', '/v1/tenants/acme/containers', { name, image: 'busybox', networks, node: token === ADMIN ? 'n1' : undefined }, token);
  const counts = async () =>
    (
      await db.query<{ c: string; e: string }>(
        'SELECT (SELECT count(*) FROM containers)::text AS c, (SELECT count(*) FROM endpoints)::text AS e',
      )
    ).rows[0];

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false, auditOptions: { authFailureEveryMs: 0 } });
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('n1', '198.18.0.1', true)");
    await ok('POST', '/v1/tenants', { name: 'acme' });
    acme = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token;
    await ok('POST', '/v1/tenants/acme/networks', { name: 'web', cidr: '10.0.0.0/24', gateway: '10.0.0.1' }, acme);
    await ok(
      'POST',
      '/v1/tenants/acme/networks',
      { name: 'pooled', cidr: '10.9.0.0/24', pools: [{ start: '10.9.0.100', end: '10.9.0.120' }] },
      acme,
    );
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('gives exactly the chosen address and MAC, shown by the API, in the view and as the infra DHCP binding', async () => {
    const r = await run('a', [{ network: 'web', ip: '10.0.0.50', mac: '02:aa:bb:cc:dd:ee' }], ADMIN);
    expect(r.status).toBe(201);
    expect(r.json.endpoints).toEqual([{ network: 'web', ip: '10.0.0.50', mac: '02:aa:bb:cc:dd:ee' }]);
    expect((await ok('GET', '/v1/tenants/acme/containers/a', undefined, acme)).endpoints).toEqual(r.json.endpoints);
    // a universally administered unicast MAC is a MAC too (a VM's or an appliance's kept address)
    const b = await run('b', [{ network: 'web', mac: '00:16:3e:00:00:01' }], ADMIN);
    expect([b.status, b.json.endpoints[0].mac]).toEqual([201, '00:16:3e:00:00:01']);

    await schedulePending(db); // the infra instance onto n1
    const { state, revision } = await loadState(db, null);
    const view = compileView(state, 'n1', revision);
    const ep = Object.values(view.endpoints).find((e) => e.name === 'a')!;
    expect([ep.ip, ep.mac, ep.ifindex]).toEqual(['10.0.0.50', '02:aa:bb:cc:dd:ee', 0]);
    const infra = Object.values(view.containers).find((c) => c.kind === 'infra' && c.name === 'infra-web')!;
    expect(buildInfraConfig(view, infra)!.bindings).toContainEqual({ mac: '02:aa:bb:cc:dd:ee', ip: '10.0.0.50', name: 'a' });
  });

  it('refuses addresses that are not a free host address of the network, with a code and the field', async () => {
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ network: 'web', ip: '10.0.1.5' }, 400, 'invalid', /10\.0\.1\.5 is not in the network's 10\.0\.0\.0\/24/],
      [{ network: 'web', ip: '10.0.0.0' }, 400, 'invalid', /network address/],
      [{ network: 'web', ip: '10.0.0.255' }, 400, 'invalid', /broadcast address/],
      [{ network: 'web', ip: '10.0.0.1' }, 409, 'address_reserved', /gateway/],
      [{ network: 'web', ip: '10.0.0.254' }, 409, 'address_reserved', /infra instance/],
      [{ network: 'web', ip: '10.0.0.50' }, 409, 'address_in_use', /10\.0\.0\.50 of network web is in use by container a/],
      [{ network: 'pooled', ip: '10.9.0.5' }, 400, 'invalid', /outside the network's allocation pools 10\.9\.0\.100-10\.9\.0\.120/],
      [{ network: 'pooled', ip: '10.9.0.120' }, 409, 'address_reserved', /infra instance/],
      [{ network: 'web', ip: '10.0.0.300' }, 400, 'invalid', /IPv4 address/],
    ];
    for (const [att, status, code, msg] of cases) {
      const r = await run('x', [att]);
      expect([r.status, r.json.code, r.json.path], JSON.stringify(att)).toEqual([status, code, 'networks.0.ip']);
      expect(r.json.message).toMatch(msg);
    }
    const ok1 = await run('p', [{ network: 'pooled', ip: '10.9.0.110' }]);
    expect([ok1.status, ok1.json.endpoints[0].ip]).toEqual([201, '10.9.0.110']);
  });

  it('refuses multicast, zero and taken MACs, and MACs in the automatic range of the network', async () => {
    const cases: Array<[string, number, string, RegExp]> = [
      ['01:00:5e:00:00:01', 400, 'invalid', /unicast/],
      ['00:00:00:00:00:00', 400, 'invalid', /unicast/],
      ['02:AA:BB:CC:DD:EE', 400, 'invalid', /lower-case/],
      ['02:aa:bb:cc:dd:ee', 409, 'mac_in_use', /MAC 02:aa:bb:cc:dd:ee of network web is in use by container a/],
    ];
    for (const [mac, status, code, msg] of cases) {
      const r = await run('x', [{ network: 'web', mac }]);
      expect([r.status, r.json.code, r.json.path], mac).toEqual([status, code, 'networks.0.mac']);
      expect(r.json.message).toMatch(msg);
    }
    const net = await ok('GET', '/v1/tenants/acme/networks/web', undefined, acme);
    const v = (net.vni as number).toString(16).padStart(6, '0');
    const auto = `02:${v.slice(0, 2)}:${v.slice(2, 4)}:${v.slice(4, 6)}:00:07`; // what 10.0.0.7 would get
    const r = await run('x', [{ network: 'web', mac: auto }]);
    expect([r.status, r.json.code, r.json.path]).toEqual([400, 'invalid', 'networks.0.mac']);
    expect(r.json.message).toMatch(/automatic MAC range/);
    // its own address's automatic MAC is what it would get anyway
    const own = await run('own', [{ network: 'web', ip: '10.0.0.7', mac: auto }]);
    expect([own.status, own.json.endpoints[0].mac]).toEqual([201, auto]);
  });

  it('writes nothing when one network of several is refused', async () => {
    const before = await counts();
    const r = await run('half', ['pooled', { network: 'web', ip: '10.0.0.50' }]);
    expect([r.status, r.json.code, r.json.path]).toEqual([409, 'address_in_use', 'networks.1.ip']);
    expect(await counts()).toEqual(before);
    expect((await call('GET', '/v1/tenants/acme/containers/half', undefined, acme)).status).toBe(404);
  });

  it('the allocator steps around chosen addresses, also inside one group commit, and a delete frees them', async () => {
    // one transaction as the batcher runs it: the first create learns the free addresses (10.0.0.2…),
    // the second takes one of them by choice, the third must not be handed it again
    const t = (await db.query<Tenant>('SELECT id, name, created_at AS "createdAt" FROM tenants WHERE name = \'acme\'')).rows[0];
    const body = (name: string, networks: unknown[]) => ContainerCreate.parse({ name, image: 'busybox', networks, node: 'n1' });
    const made = await db.tx(async (q) => {
      const memo = newMemo();
      const out = [];
      out.push(await createContainer(q, t, body('c1', ['web']), 'create container', memo));
      const next = intToIp4(ip4ToInt(out[0].endpoints[0].ip) + 1);
      out.push(await createContainer(q, t, body('c2', [{ network: 'web', ip: next }]), 'create container', memo));
      out.push(await createContainer(q, t, body('c3', ['web']), 'create container', memo));
      return out.map((c) => ip4ToInt(c.endpoints[0].ip));
    });
    expect(made).toEqual([made[0], made[0] + 1, made[0] + 2]);
    await ok('DELETE', '/v1/tenants/acme/containers/c2', undefined, acme);
    expect((await run('again', [{ network: 'web', ip: intToIp4(made[1]) }])).status).toBe(201);
  });

  it('a group commit writes its creates at its end; a MAC repeated on a wide network is replaced by a free one', async () => {
    await ok('POST', '/v1/tenants/acme/networks', { name: 'wide', cidr: '10.64.0.0/15' }, acme);
    // on a /15 the MAC of 10.65.0.5 (VNI + low 16 bits) is the one 10.64.0.5 already holds
    const first = await run('w0', [{ network: 'wide', ip: '10.64.0.5' }]);
    expect(first.status).toBe(201);
    const t = (await db.query<Tenant>('SELECT id, name, created_at AS "createdAt" FROM tenants WHERE name = \'acme\'')).rows[0];
    const body = (name: string, networks: unknown[]) => ContainerCreate.parse({ name, image: 'busybox', networks, node: 'n1' });
    const made = await db.tx(async (q) => {
      const memo = batchMemo();
      const out = [
        await createContainer(q, t, body('w1', ['wide']), 'create container', memo),
        await createContainer(q, t, body('w2', [{ network: 'wide', ip: '10.65.0.5' }]), 'create container', memo),
        await createContainer(q, t, body('w3', ['wide']), 'create container', memo),
      ];
      // w3 waits for the batch's end: not written yet, no timestamp yet
      expect(memo.deferred?.map((d) => d.row.name)).toEqual(['w2', 'w3']);
      expect(out[2].createdAt).toBe('');
      await flushCreates(q, memo.deferred);
      return out;
    });
    expect(made[1].endpoints[0].mac).not.toBe(first.json.endpoints[0].mac);
    expect(new Set(made.map((c) => c.endpoints[0].ip)).size).toBe(3);
    for (const c of made) {
      const shown = await ok('GET', `/v1/tenants/acme/containers/${c.name}`, undefined, acme);
      expect([shown.endpoints, shown.createdAt]).toEqual([c.endpoints, c.createdAt]);
    }
    for (const n of ['w0', 'w1', 'w2', 'w3']) await ok('DELETE', `/v1/tenants/acme/containers/${n}`, undefined, acme);
    await ok('DELETE', '/v1/tenants/acme/networks/wide', undefined, acme);
  });

  it('the body keeps bare names and refuses unknown attachment fields', async () => {
    const r = await run('bad', [{ network: 'web', ipv4: '10.0.0.9' }]);
    expect([r.status, r.json.code]).toEqual([400, 'invalid']);
    const twice = await run('bad', ['web', { network: 'web', ip: '10.0.0.9' }]);
    expect([twice.status, twice.json.path]).toEqual([400, 'networks.1']);
  });
});
