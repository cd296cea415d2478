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

const ADMIN = 'admin-secret-for-fip-tests';
const log = pino({ level: 'silent' });
const POOL = /^203\.0\.113\.(1[0-4]\d|150)$/;

/**
 * External networks, router gateways on them and floating IPs through the REST API (the real
 * database, each backend): who may name what, allocation from the pool without collisions, the
 * per-node router addresses, and what each node's view carries.
 */
describe.each(BACKENDS)('external networks and floating IPs on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let acme = '';
  let other = '';
  let extId = '';
  const { call, ok } = injector(() => app, ADMIN);
  const gateways = async () =>
    Object.fromEntries(
      ((await ok('GET', '/v1/tenants/acme/routers/r1', undefined, acme)).gateways as Array<{ node: string; ip: string }>).map((g) => [
        g.node,
        g.ip,
      ]),
    );
  const view = async (node: string) => {
    const { state, revision } = await loadState(db, null);
    return compileView(state, node, revision);
  };

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false, auditOptions: { authFailureEveryMs: 0 } });
    const caps = JSON.stringify({ vxlan: true, physicalNetworks: { ext: { interface: 'eth1', mtu: 1500 } } });
    await db.query(
      "INSERT INTO nodes (name, underlay_ip, ready, capabilities) VALUES ('n1', '198.18.0.1', true, $1), ('n2', '198.18.0.2', true, $1)",
      [caps],
    );
    for (const t of ['provider', 'acme', 'other']) await ok('POST', '/v1/tenants', { name: t });
    acme = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token;
    other = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'other' })).token;
    const ext = await ok('POST', '/v1/tenants/provider/networks', {
      name: 'ext',
      type: 'physical',
      params: { type: 'physical', physicalNetwork: 'ext' },
      cidr: '203.0.113.0/24',
      gateway: '203.0.113.1',
      pools: [{ start: '203.0.113.100', end: '203.0.113.150' }],
      external: true,
    });
    expect(ext.external).toBe(true);
    extId = ext.id;
    await ok('POST', '/v1/tenants/provider/networks', {
      name: 'private',
      type: 'physical',
      params: { type: 'physical', physicalNetwork: 'ext', vlan: 7 },
      cidr: '192.0.2.0/24',
      pools: [{ start: '192.0.2.10', end: '192.0.2.20' }],
    });
    await ok('POST', '/v1/tenants/acme/networks', { name: 'web', cidr: '10.1.0.0/24' }, acme);
    await ok('POST', '/v1/tenants/other/networks', { name: 'web', cidr: '10.1.0.0/24' }, other);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('only a physical network can be external; a router names an external network of another tenant, nothing else', async () => {
    const overlay = await call('POST', '/v1/tenants/provider/networks', { name: 'x', cidr: '10.5.0.0/24', external: true });
    expect([overlay.status, overlay.json.code, overlay.json.path]).toEqual([400, 'invalid', 'external']);
    for (const ref of ['provider/nope', 'provider/private', 'acme/web']) {
      const r = await call('POST', '/v1/tenants/acme/routers', { name: 'bad', externalNetwork: ref }, acme);
      expect([r.status, r.json.code, r.json.path], ref).toEqual([404, 'external_network_not_found', 'externalNetwork']);
    }
    const r1 = await call('POST', '/v1/tenants/acme/routers', { name: 'r1', externalNetwork: 'provider/ext' }, acme);
    expect([r1.status, r1.json]).toMatchObject([201, { name: 'r1', external: true, externalNetwork: 'provider/ext', gateways: [] }]);
    // the tenant sees the name of the external network through its router, never the network itself
    expect((await call('GET', '/v1/tenants/provider/networks/ext', undefined, acme)).status).toBe(404);
    await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'web' }, acme);
  });

  it('one router address of the pool per node that runs the router, kept as containers come and go; in the view', async () => {
    await ok('POST', '/v1/tenants/acme/containers', { name: 'a', image: 'busybox', networks: ['web'], node: 'n1' });
    expect(Object.keys(await gateways())).toEqual(['n1']);
    await ok('POST', '/v1/tenants/acme/containers', { name: 'b', image: 'busybox', networks: ['web'], node: 'n2' });
    await ok('POST', '/v1/tenants/acme/containers', { name: 'c', image: 'busybox', networks: ['web'], node: 'n2' });
    const gw = await gateways();
    expect(Object.keys(gw).sort()).toEqual(['n1', 'n2']);
    expect(gw.n1).toMatch(POOL);
    expect(gw.n2).toMatch(POOL);
    expect(gw.n1).not.toBe(gw.n2);
    const v1 = await view('n1');
    const web = Object.values(v1.networks).find((n) => n.name === 'web' && n.tenant === 'acme')!;
    expect(web.router).toMatchObject({
      externalIp: gw.n1,
      externalNetwork: { id: extId, physicalNetwork: 'ext', cidr: '203.0.113.0/24', gateway: '203.0.113.1', mtu: 1500 },
    });
    expect(Object.values((await view('n2')).networks).find((n) => n.name === 'web' && n.tenant === 'acme')!.router!.externalIp).toBe(gw.n2);
    // n2's last container goes: so does n2's address (back to the pool)
    await ok('DELETE', '/v1/tenants/acme/containers/b');
    expect(Object.keys(await gateways()).sort()).toEqual(['n1', 'n2']);
    await ok('DELETE', '/v1/tenants/acme/containers/c');
    expect(await gateways()).toEqual({ n1: gw.n1 });
  });

  it('floating IPs: allocated to the tenant from the pool (never a router or container address), associated once, in the node view', async () => {
    const gw = await gateways();
    const f = await call('POST', '/v1/tenants/acme/floating-ips', { network: 'provider/ext' }, acme);
    expect([f.status, f.json]).toMatchObject([201, { tenant: 'acme', network: 'provider/ext', container: null, node: null }]);
    expect(f.json.ip).toMatch(POOL);
    expect(f.json.ip).not.toBe(gw.n1);
    const taken = await call('POST', '/v1/tenants/acme/floating-ips', { network: 'provider/ext', ip: gw.n1 }, acme);
    expect([taken.status, taken.json.code, taken.json.path]).toEqual([409, 'conflict', 'ip']);
    const outside = await call('POST', '/v1/tenants/acme/floating-ips', { network: 'provider/ext', ip: '203.0.113.9' }, acme);
    expect([outside.status, outside.json.path]).toEqual([409, 'ip']);
    const chosen = await ok('POST', '/v1/tenants/acme/floating-ips', { network: 'provider/ext', ip: '203.0.113.140' }, acme);
    expect(chosen.ip).toBe('203.0.113.140');
    const bad = await call('POST', '/v1/tenants/acme/floating-ips', { network: 'provider/private' }, acme);
    expect([bad.status, bad.json.code]).toEqual([404, 'external_network_not_found']);
    // a container on the external network itself never gets an address held by a router or a floating IP
    const onExt = await ok('POST', '/v1/tenants/provider/containers', { name: 'bm', image: 'busybox', networks: ['ext'], node: 'n1' });
    expect([gw.n1, f.json.ip, chosen.ip]).not.toContain(onExt.endpoints[0].ip);

    const a = await call('POST', `/v1/tenants/acme/floating-ips/${f.json.ip}/associate`, { container: 'a' }, acme);
    expect([a.status, a.json]).toMatchObject([200, { ip: f.json.ip, container: 'a', node: 'n1' }]);
    const ctId = (await ok('GET', '/v1/tenants/acme/containers/a')).id;
    expect((await view('n1')).containers[ctId].floatingIps).toEqual([{ ip: f.json.ip, network: extId }]);
    await ok('POST', '/v1/tenants/acme/containers', { name: 'd', image: 'busybox', networks: ['web'], node: 'n1' });
    const again = await call('POST', `/v1/tenants/acme/floating-ips/${f.json.ip}/associate`, { container: 'd' }, acme);
    expect([again.status, again.json.code]).toEqual([409, 'floating_ip_associated']);
    const second = await call('POST', `/v1/tenants/acme/floating-ips/${chosen.ip}/associate`, { container: 'a' }, acme);
    expect([second.status, second.json.code]).toEqual([409, 'conflict']);
    const same = await call('POST', `/v1/tenants/acme/floating-ips/${f.json.ip}/associate`, { container: 'a' }, acme);
    expect(same.status).toBe(200);

    // another tenant: cannot see acme's addresses, cannot associate them, its own cannot go to a container without the network
    expect((await call('GET', '/v1/tenants/acme/floating-ips', undefined, other)).status).toBe(404);
    expect((await call('POST', `/v1/tenants/other/floating-ips/${f.json.ip}/associate`, { container: 'a' }, other)).json.code).toBe(
      'floating_ip_not_found',
    );
    await ok('POST', '/v1/tenants/other/containers', { name: 'o', image: 'busybox', networks: ['web'], node: 'n1' });
    const mine = await ok('POST', '/v1/tenants/other/floating-ips', { network: 'provider/ext' }, other);
    const cross = await call('POST', `/v1/tenants/other/floating-ips/${mine.ip}/associate`, { container: 'a' }, other);
    expect([cross.status, cross.json.code]).toEqual([404, 'container_not_found']);
    const unrouted = await call('POST', `/v1/tenants/other/floating-ips/${mine.ip}/associate`, { container: 'o' }, other);
    expect([unrouted.status, unrouted.json.code, unrouted.json.path]).toEqual([400, 'invalid', 'container']);
    expect((await ok('GET', '/v1/tenants/other/floating-ips', undefined, other)).items).toHaveLength(1);

    const dis = await ok('POST', `/v1/tenants/acme/floating-ips/${f.json.ip}/disassociate`, undefined, acme);
    expect(dis).toMatchObject({ container: null, node: null });
    expect((await view('n1')).containers[ctId].floatingIps).toBeUndefined();
    await ok('POST', `/v1/tenants/acme/floating-ips/${f.json.ip}/associate`, { container: 'd' }, acme);
    expect((await call('DELETE', `/v1/tenants/acme/floating-ips/${f.json.ip}`, undefined, acme)).status).toBe(204);
    expect((await call('GET', `/v1/tenants/acme/floating-ips/${f.json.ip}`, undefined, acme)).json.code).toBe('floating_ip_not_found');
    // the external network cannot go while addresses of it are held
    expect((await call('DELETE', '/v1/tenants/provider/networks/ext')).status).toBe(409);
  });

  it('a router without its external network goes back to the underlay: its addresses are released', async () => {
    const r = await ok('PATCH', '/v1/tenants/acme/routers/r1', { externalNetwork: null }, acme);
    expect(r).toMatchObject({ external: true, externalNetwork: null, gateways: [] });
    const web = Object.values((await view('n1')).networks).find((n) => n.name === 'web' && n.tenant === 'acme')!;
    expect(web.router?.externalNetwork).toBeUndefined();
    expect(web.router?.externalIp).toBeUndefined();
  });

  it('audits floating-IP calls and documents them in OpenAPI', async () => {
    await (app as unknown as { audit: { flush(): Promise<void> } }).audit.flush();
    const { rows } = await db.query<{ action: string }>("SELECT action FROM audit_log WHERE action LIKE '%floating ip%' ORDER BY id");
    expect(rows.map((r) => r.action)).toEqual(
      expect.arrayContaining(['create floating ip', 'associate floating ip', 'disassociate floating ip', 'delete floating ip']),
    );
    const doc = (await call('GET', '/openapi.json')).json;
    expect(Object.keys(doc.paths['/v1/tenants/{tenant}/floating-ips/{fip}'])).toEqual(expect.arrayContaining(['get', 'delete']));
    expect(doc.paths['/v1/tenants/{tenant}/floating-ips/{fip}/associate'].post.requestBody).toBeTruthy();
  });
});
