import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import type { Db } from '../store/db.js';
import { quiet, Seed, startController, tempDir, TestAgent, testDb, waitFor, type Controller } from '../../test/netns/push-harness.js';

/**
 * PATCH (JSON merge patch) on networks, containers and tenants: each field is answered, kept, and
 * — for what a node acts on — reaches a connected agent's view through the normal push, without
 * bumping the container's generation (no restart). A real controller (REST + stream), a real agent
 * session, the machine's PostgreSQL.
 */
const ADMIN = 'patch-admin-token';
let db: Db;
let drop: () => Promise<void>;
let app: FastifyInstance;
let ctl: Controller;
let agent: TestAgent;
const dir = tempDir();

const call = async (method: string, url: string, body?: unknown, type = 'application/merge-patch+json') => {
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': type } : {}) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, json: res.body ? res.json() : undefined };
};
const ok = async (method: string, url: string, body?: unknown, type?: string) => {
  const r = await call(method, url, body, type ?? (method === 'PATCH' ? 'application/merge-patch+json' : 'application/json'));
  if (r.status >= 300) throw new Error(`${method} ${url} → ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
};
const newestRevision = async () =>
  Number((await db.query<{ r: string }>('SELECT coalesce(max(revision), 0)::text AS r FROM change_log')).rows[0].r);

let netId: string;
let ctId: string;

beforeAll(async () => {
  ({ db, drop } = await testDb());
  await ensureAdminToken(db, ADMIN);
  app = await buildApp({ db, log: quiet, push: false });
  ctl = await startController(db, { heartbeatMs: 100, flushMs: 50 });
  const n1 = await new Seed(db).node('n1', '198.18.0.1');
  agent = new TestAgent(ctl.url, n1.token, 'n1', '198.18.0.1', dir.dir, 100);
  await agent.start();
  await ok('POST', '/v1/tenants', { name: 'acme' });
  netId = (await ok('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.1.0.0/24' })).id;
  ctId = (await ok('POST', '/v1/tenants/acme/containers', { name: 'web', image: 'busybox', networks: ['blue'], node: 'n1' })).id;
  await waitFor('network and container in the view', () => !!agent.view.networks[netId] && !!agent.view.containers[ctId], 20_000);
});
afterAll(async () => {
  await agent?.stop();
  await ctl?.close();
  await app?.close();
  await drop?.();
  dir.rm();
});

const netUrl = '/v1/tenants/acme/networks/blue';
const ctUrl = '/v1/tenants/acme/containers/web';
const viewNet = () => agent.view.networks[netId];
const viewCt = () => agent.view.containers[ctId];

describe('PATCH a network', () => {
  it('mtu: set, reaches the view, null goes back to the underlay MTU minus the overhead', async () => {
    expect(viewNet().mtu).toBe(1450);
    const r = await ok('PATCH', netUrl, { mtu: 1400 });
    expect(r.mtu).toBe(1400);
    await waitFor('mtu 1400 in the view', () => viewNet().mtu === 1400, 20_000);
    expect((await ok('PATCH', netUrl, { mtu: null })).mtu).toBeNull();
    await waitFor('mtu back to 1450', () => viewNet().mtu === 1450, 20_000);
  });

  it('domain reaches the view', async () => {
    expect((await ok('PATCH', netUrl, { domain: 'corp.example' })).domain).toBe('corp.example');
    await waitFor('domain in the view', () => viewNet().domain === 'corp.example', 20_000);
    expect((await ok('PATCH', netUrl, { domain: null })).domain).toBe('freight.internal');
    await waitFor('default domain in the view', () => viewNet().domain === 'freight.internal', 20_000);
  });

  it('DHCP options: set whole, merged per option (null removes one), reach the view', async () => {
    const dhcp = {
      routes: [{ destination: '192.168.0.0/16', gateway: '10.1.0.1' }],
      ntp: ['10.1.0.2'],
      dns: ['10.1.0.3'],
      search: ['corp.example'],
    };
    expect((await ok('PATCH', netUrl, { dhcpOptions: dhcp })).dhcpOptions).toEqual(dhcp);
    await waitFor('dhcp options in the view', () => JSON.stringify(viewNet().dhcpOptions) === JSON.stringify(dhcp), 20_000);
    const r = await ok('PATCH', netUrl, { dhcpOptions: { ntp: null, search: ['a.example', 'b.example'] } });
    expect(r.dhcpOptions).toEqual({ routes: dhcp.routes, dns: dhcp.dns, search: ['a.example', 'b.example'] });
    await waitFor(
      'merged dhcp options in the view',
      () => viewNet().dhcpOptions?.ntp === undefined && viewNet().dhcpOptions?.search?.length === 2,
      20_000,
    );
    await ok('PATCH', netUrl, { dhcpOptions: null });
    await waitFor('no dhcp options in the view', () => viewNet().dhcpOptions === undefined, 20_000);
  });

  it('DNS upstreams reach the view; null goes back to the agent flag', async () => {
    expect((await ok('PATCH', netUrl, { dnsUpstreams: ['198.51.100.53'] })).dnsUpstreams).toEqual(['198.51.100.53']);
    await waitFor('upstreams in the view', () => viewNet().dnsUpstreams?.[0] === '198.51.100.53', 20_000);
    await ok('PATCH', netUrl, { dnsUpstreams: [] });
    await waitFor('no upstreams in the view', () => viewNet().dnsUpstreams?.length === 0, 20_000);
    await ok('PATCH', netUrl, { dnsUpstreams: null });
    await waitFor('upstreams unset in the view', () => viewNet().dnsUpstreams === undefined, 20_000);
  });

  it('description and labels: kept and shown, bump updatedAt, change no view item', async () => {
    const before = await ok('GET', netUrl);
    const item = JSON.stringify(viewNet());
    const rev = await newestRevision();
    const r = await ok('PATCH', netUrl, { description: 'front end', labels: { tier: 'web', 'example.com/team': 'a' } });
    expect(r).toMatchObject({ description: 'front end', labels: { tier: 'web', 'example.com/team': 'a' } });
    expect(Date.parse(r.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
    expect((await ok('PATCH', netUrl, { labels: { tier: null, env: 'prod' } })).labels).toEqual({ 'example.com/team': 'a', env: 'prod' });
    expect(await ok('GET', netUrl)).toMatchObject({ description: 'front end', labels: { 'example.com/team': 'a', env: 'prod' } });
    // logged (the events stream shows them), pushed as nothing: the node's view item is the same
    await waitFor('the agent applied the revisions', () => agent.view.revision > rev, 20_000);
    expect(JSON.stringify(viewNet())).toBe(item);
    expect((await ok('PATCH', netUrl, { description: null })).description).toBeNull();
  });

  it('an unchanged patch writes nothing (updatedAt kept); plain application/json is taken too', async () => {
    const before = await ok('GET', netUrl);
    const r = await ok('PATCH', netUrl, { labels: { env: 'prod' }, cidr: '10.1.0.0/24', type: 'vxlan' }, 'application/json');
    expect(r.updatedAt).toBe(before.updatedAt);
  });

  it('refuses: fixed fields 409 immutable_field, unknown fields and bad values 400 naming the field, nothing half-written', async () => {
    for (const [body, path] of [
      [{ cidr: '10.2.0.0/24' }, 'cidr'],
      [{ type: 'geneve' }, 'type'],
      [{ vni: 77 }, 'vni'],
      [{ name: 'red' }, 'name'],
      [{ gateway: '10.1.0.1' }, 'gateway'],
      [{ dhcp: false }, 'dhcp'],
      [{ pools: [{ start: '10.1.0.10', end: '10.1.0.20' }] }, 'pools'],
      [{ params: { port: 4790 } }, 'params.port'],
      [{ params: { type: 'geneve' } }, 'params.type'],
    ] as const) {
      const r = await call('PATCH', netUrl, { mtu: 1300, ...body });
      expect([r.status, r.json.code, r.json.path], JSON.stringify(body)).toEqual([409, 'immutable_field', path]);
    }
    for (const [body, path] of [
      [{ flood: [] }, ''],
      [{ mtu: 100 }, 'mtu'],
      [{ mtu: '1400' }, 'mtu'],
      [{ labels: { 'bad key!': 'x' } }, 'labels.bad key!'],
      [{ description: 'a\u001b[31mred' }, 'description'],
      [{ dhcpOptions: { routes: [{ destination: '192.168.0.0/16', gateway: '10.9.0.1' }] } }, 'dhcpOptions.routes.0.gateway'],
      [{ dhcpOptions: { routes: [{ destination: '192.168.0.1/16', gateway: '10.1.0.1' }] } }, 'dhcpOptions.routes.0.destination'],
      [{ dhcpOptions: { ntp: ['nope'] } }, 'dhcpOptions.ntp.0'],
      [{ dnsUpstreams: ['1.1.1.1:53'] }, 'dnsUpstreams.0'],
    ] as const) {
      const r = await call('PATCH', netUrl, { domain: 'half.example', ...body });
      expect([r.status, r.json.code, r.json.path ?? ''], JSON.stringify(body)).toEqual([400, 'invalid', path]);
    }
    expect((await ok('GET', netUrl)).domain).toBe('freight.internal');
    expect((await call('PATCH', '/v1/tenants/acme/networks/nosuch', { mtu: 1400 })).json.code).toBe('network_not_found');
    expect((await call('PATCH', netUrl, '{', 'application/merge-patch+json')).status).toBe(400);
  });
});

describe('PATCH per-type parameters', () => {
  it("an ipsec network's key rotation period changes in place; null goes back to the controller's", async () => {
    await ok('POST', '/v1/tenants/acme/networks', { name: 'sec', type: 'ipsec', cidr: '10.9.0.0/24' });
    expect((await ok('PATCH', '/v1/tenants/acme/networks/sec', { params: { rotateHours: 12 } })).params).toEqual({
      type: 'ipsec',
      rotateHours: 12,
    });
    expect((await ok('PATCH', '/v1/tenants/acme/networks/sec', { params: { rotateHours: null } })).params).toEqual({ type: 'ipsec' });
    const r = await call('PATCH', '/v1/tenants/acme/networks/sec', { params: { rotateHours: 0 } });
    expect([r.status, r.json.path]).toEqual([400, 'params.rotateHours']);
    await ok('DELETE', '/v1/tenants/acme/networks/sec');
  });
});

describe('PATCH a container', () => {
  it('restart policy reaches the view without a new generation', async () => {
    const gen = viewCt().generation;
    expect((await ok('PATCH', ctUrl, { restart: 'always' })).restart).toBe('always');
    await waitFor('restart always in the view', () => viewCt().restart === 'always', 20_000);
    expect(viewCt().generation).toBe(gen);
  });

  it('limits reach the view without a new generation; null resets to the defaults', async () => {
    const gen = viewCt().generation;
    const r = await ok('PATCH', ctUrl, { memory: '256M', cpus: 0.5, pids: 200 });
    expect([r.memory, r.cpus, r.pids]).toEqual([256 * 2 ** 20, 0.5, 200]);
    await waitFor('limits in the view', () => viewCt().limits?.memory === 256 * 2 ** 20 && viewCt().limits?.cpus === 0.5, 20_000);
    expect(viewCt().limits).toEqual({ memory: 256 * 2 ** 20, cpus: 0.5, pids: 200 });
    await ok('PATCH', ctUrl, { memory: null, cpus: null, pids: null });
    await waitFor('default limits in the view', () => viewCt().limits?.cpus === null && viewCt().limits?.pids === 1024, 20_000);
    expect(viewCt().generation).toBe(gen);
  });

  it('description and labels are kept and change no view item', async () => {
    const item = JSON.stringify(viewCt());
    const rev = await newestRevision();
    const r = await ok('PATCH', ctUrl, { description: 'the web server', labels: { app: 'web' } });
    expect(r).toMatchObject({ description: 'the web server', labels: { app: 'web' } });
    await waitFor('the agent applied the revisions', () => agent.view.revision > rev, 20_000);
    expect(JSON.stringify(viewCt())).toBe(item);
  });

  it('refuses fixed fields (409 immutable_field) and bad values (400), accepts fixed fields at their value', async () => {
    for (const [body, path] of [
      [{ image: 'debian' }, 'image'],
      [{ networks: ['red'] }, 'networks'],
      [{ command: ['sh'] }, 'command'],
      [{ node: 'n2' }, 'node'],
      [{ boot: true }, 'boot'],
    ] as const) {
      const r = await call('PATCH', ctUrl, body);
      expect([r.status, r.json.code, r.json.path], JSON.stringify(body)).toEqual([409, 'immutable_field', path]);
    }
    for (const [body, path] of [
      [{ restart: 'sometimes' }, 'restart'],
      [{ memory: '1K' }, 'memory'],
      [{ pids: 1 }, 'pids'],
      [{ observedState: 'running' }, ''],
    ] as const) {
      const r = await call('PATCH', ctUrl, body);
      expect([r.status, r.json.code, r.json.path ?? ''], JSON.stringify(body)).toEqual([400, 'invalid', path]);
    }
    const same = await ok('PATCH', ctUrl, { image: 'busybox', networks: ['blue'], node: 'n1', command: [], boot: false });
    expect(same.name).toBe('web');
  });
});

describe('PATCH published ports', () => {
  it('publish reaches the view (the whole list), a port another container holds on the node is 409 port_in_use, null removes them', async () => {
    const gen = viewCt().generation;
    // not routed yet: refused naming the field, nothing written
    const unrouted = await call('PATCH', ctUrl, { publish: [{ hostPort: 8080, port: 80 }] });
    expect([unrouted.status, unrouted.json.code, unrouted.json.path]).toEqual([400, 'invalid', 'publish']);
    expect((await ok('GET', ctUrl)).publish).toEqual([]);
    await ok('POST', '/v1/tenants/acme/routers', { name: 'r1' });
    await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'blue' });
    const r = await ok('PATCH', ctUrl, {
      publish: [
        { hostPort: 8080, port: 80 },
        { hostPort: 5353, port: 53, proto: 'udp' },
      ],
    });
    expect(r.publish).toEqual([
      { hostPort: 8080, port: 80, proto: 'tcp', hostIp: null },
      { hostPort: 5353, port: 53, proto: 'udp', hostIp: null },
    ]);
    await waitFor('published ports in the view', () => viewCt().publish?.length === 2, 20_000);
    expect(viewCt().publish).toEqual([
      { proto: 'tcp', hostPort: 8080, port: 80 },
      { proto: 'udp', hostPort: 5353, port: 53 },
    ]);
    expect(viewCt().generation).toBe(gen); // no restart: the router's NAT changes, not the container
    // re-sending what GET answered (hostIp null) is no change
    const rev = await newestRevision();
    await ok('PATCH', ctUrl, { publish: r.publish });
    expect(await newestRevision()).toBe(rev);
    // another container on the node asking for tcp/8080: 409 port_in_use, its list unchanged
    const otherId = (await ok('POST', '/v1/tenants/acme/containers', { name: 'other', image: 'busybox', networks: ['blue'], node: 'n1' }))
      .id;
    await ok('PATCH', '/v1/tenants/acme/containers/other', { publish: [{ hostPort: 9090, port: 80 }] });
    const dup = await call('PATCH', '/v1/tenants/acme/containers/other', {
      publish: [
        { hostPort: 9091, port: 80 },
        { hostPort: 8080, port: 80 },
      ],
    });
    expect([dup.status, dup.json.code]).toEqual([409, 'port_in_use']);
    expect((await ok('GET', '/v1/tenants/acme/containers/other')).publish).toEqual([
      { hostPort: 9090, port: 80, proto: 'tcp', hostIp: null },
    ]);
    // the same port on another address of the node is another socket: accepted
    const ip = await ok('PATCH', '/v1/tenants/acme/containers/other', { publish: [{ hostPort: 8080, port: 80, hostIp: '198.18.0.77' }] });
    expect(ip.publish).toEqual([{ hostPort: 8080, port: 80, proto: 'tcp', hostIp: '198.18.0.77' }]);
    await waitFor(
      'the other container published on its address',
      () => agent.view.containers[otherId]?.publish?.[0]?.hostIp === '198.18.0.77',
      20_000,
    );
    const bad = await call('PATCH', ctUrl, {
      publish: [
        { hostPort: 8080, port: 80 },
        { hostPort: 8080, port: 81 },
      ],
    });
    expect([bad.status, bad.json.code, bad.json.path]).toEqual([400, 'invalid', 'publish.1.hostPort']);
    expect((await ok('PATCH', ctUrl, { publish: null })).publish).toEqual([]);
    await waitFor('published ports gone from the view', () => !viewCt().publish?.length, 20_000);
    await ok('DELETE', '/v1/tenants/acme/containers/other');
    await ok('POST', '/v1/tenants/acme/routers/r1/detach', { network: 'blue' });
    await ok('DELETE', '/v1/tenants/acme/routers/r1');
  });
});

describe('PATCH a tenant', () => {
  it('takes description and labels (admin), keeps the name', async () => {
    const r = await ok('PATCH', '/v1/tenants/acme', { description: 'ACME corp', labels: { billing: 'b42' } });
    expect(r).toMatchObject({ name: 'acme', description: 'ACME corp', labels: { billing: 'b42' } });
    expect(await ok('GET', '/v1/tenants/acme')).toMatchObject({ description: 'ACME corp', labels: { billing: 'b42' } });
    expect((await call('PATCH', '/v1/tenants/acme', { name: 'other' })).json.code).toBe('immutable_field');
  });
});
