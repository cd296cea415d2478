import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { BACKENDS } from '../../test/support/backends.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { fromDatabase } from '../errors.js';
import { macFor } from '../ipam.js';
import { schedulePending } from '../scheduler.js';
import { migrate, openDb, sqlState, type Db } from '../store/db.js';
import { containerView } from '../view/apply.js';
import { loadState } from '../view/load.js';

const ADMIN = 'admin-secret-for-tests';
const log = pino({ level: 'silent' });

describe.each(BACKENDS)('REST API on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  const call = async (method: string, url: string, body?: unknown, token: string | null = ADMIN) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const json = res.headers['content-type']?.toString().includes('json') && res.body ? res.json() : undefined;
    return { status: res.statusCode, json, text: res.body };
  };
  const ok = async (method: string, url: string, body?: unknown, token?: string) => {
    const r = await call(method, url, body, token);
    if (r.status >= 300) throw new Error(`${method} ${url} → ${r.status} ${r.text}`);
    return r.json;
  };
  const container = (name: string, networks: string[], extra: Record<string, unknown> = {}) => ({
    name,
    image: 'busybox',
    networks,
    ...extra,
  });
  let vnis: Record<string, number> = {};

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    expect(await ensureAdminToken(db, ADMIN)).toBe(ADMIN);
    expect(await ensureAdminToken(db, 'another')).toBeNull(); // only at first start
    // nodes here are rows, not connected agents; a row per failed authentication (by default one
    // row per address and minute counts them, and this file fails many from 127.0.0.1)
    app = await buildApp({ db, log, push: false, auditOptions: { authFailureEveryMs: 0 } });
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('creates, lists with a cursor, shows and deletes tenants', async () => {
    for (const name of ['t-a', 't-b', 't-c', 't-d', 't-e']) expect((await call('POST', '/v1/tenants', { name })).status).toBe(201);
    const dup = await call('POST', '/v1/tenants', { name: 't-a' });
    expect([dup.status, dup.json.code]).toEqual([409, 'conflict']);
    const seen: string[] = [];
    let url = '/v1/tenants?limit=2';
    for (;;) {
      const page = await ok('GET', url);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((t: { name: string }) => t.name));
      if (!page.next) break;
      url = `/v1/tenants?limit=2&after=${page.next}`;
    }
    expect(seen).toEqual(['t-a', 't-b', 't-c', 't-d', 't-e']);
    expect((await ok('GET', '/v1/tenants/t-c')).name).toBe('t-c');
    expect((await call('DELETE', '/v1/tenants/t-e')).status).toBe(204);
    const gone = await call('GET', '/v1/tenants/t-e');
    expect([gone.status, gone.json.code]).toEqual([404, 'tenant_not_found']);
  });

  it('authenticates: 401 without or with a bad token, 403 for node tokens on the REST API, 401 after revoke', async () => {
    expect((await call('GET', '/v1/tenants', undefined, null)).json.code).toBe('unauthenticated');
    expect((await call('GET', '/v1/tenants', undefined, 'nope')).status).toBe(401);
    const node = await ok('POST', '/v1/tokens', { kind: 'node', node: 'n9' });
    expect(node.token).toMatch(/^frt_/);
    const r = await call('GET', '/v1/tenants', undefined, node.token);
    expect([r.status, r.json.code]).toEqual([403, 'forbidden']);
    const list = await ok('GET', '/v1/tokens');
    expect(list.items.some((t: { id: string }) => t.id === node.id)).toBe(true);
    expect(JSON.stringify(list)).not.toContain(node.token);
    expect(JSON.stringify(list)).not.toMatch(/hash/);
    expect((await call('DELETE', `/v1/tokens/${node.id}`)).json.revokedAt).not.toBeNull();
    // what the push module authenticates with
    const { authenticate } = await import('../auth.js');
    await expect(authenticate(db, `Bearer ${node.token}`)).rejects.toMatchObject({ code: 'unauthenticated' });
    expect((await call('DELETE', '/v1/tokens/not-a-uuid')).json.code).toBe('token_not_found');
  });

  it('creates a network with VNI and its infra instance on the highest host address', async () => {
    await ok('POST', '/v1/tenants', { name: 'acme' });
    const net = await ok('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.0.0.0/24', gateway: '10.0.0.1' });
    expect(net).toMatchObject({
      tenant: 'acme',
      name: 'blue',
      type: 'vxlan',
      cidr: '10.0.0.0/24',
      gateway: '10.0.0.1',
      domain: 'freight.internal',
    });
    // VNIs are drawn at random (a lowest-free VNI told tenants how many networks others had)
    expect(net.vni).toBeGreaterThanOrEqual(1);
    expect(net.infra).toMatchObject({ name: 'infra-blue', ip: '10.0.0.254', mac: macFor(net.vni, '10.0.0.254') });
    const second = await ok('POST', '/v1/tenants/acme/networks', {
      name: 'green',
      cidr: '10.1.0.0/16',
      type: 'ipsec',
      mtu: 1400,
      domain: 'corp.example',
    });
    expect(second.vni).not.toBe(net.vni);
    vnis = { blue: net.vni, green: second.vni };
    const fixed = await ok('POST', '/v1/tenants/acme/networks', { name: 'red', cidr: '10.2.0.0/24', vni: 4242 });
    expect(fixed.vni).toBe(4242);
    const { rows } = await db.query("SELECT 1 FROM containers WHERE kind = 'infra'");
    expect(rows).toHaveLength(3);
    expect((await ok('GET', '/v1/tenants/acme/networks/green')).mtu).toBe(1400);
    expect((await ok('GET', '/v1/tenants/acme/networks')).items.map((n: { name: string }) => n.name)).toEqual(['blue', 'green', 'red']);
  });

  it('rejects every network constraint with its code: overlap, duplicate name, duplicate VNI; another tenant may reuse a range', async () => {
    const overlap = await call('POST', '/v1/tenants/acme/networks', { name: 'dup', cidr: '10.0.0.128/25' });
    expect([overlap.status, overlap.json.code]).toEqual([409, 'overlap']);
    expect(overlap.json.message).toMatch(/create network acme\/dup: .*overlaps/);
    const name = await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.9.0.0/24' });
    expect([name.status, name.json.code]).toEqual([409, 'conflict']);
    const vni = await call('POST', '/v1/tenants/acme/networks', { name: 'vni', cidr: '10.8.0.0/24', vni: 4242 });
    expect([vni.status, vni.json.code]).toEqual([409, 'conflict']);
    await ok('POST', '/v1/tenants', { name: 'other' });
    const reuse = await ok('POST', '/v1/tenants/other/networks', { name: 'blue', cidr: '10.0.0.0/24' });
    expect(reuse.vni).not.toBe(vnis.blue);
    expect(reuse.infra.ip).toBe('10.0.0.254');
  });

  it('answers 400 with the field path for bad bodies', async () => {
    const cases: Array<[unknown, string]> = [
      [{ name: 'x', cidr: '10.0.0.0/33' }, 'cidr'],
      [{ name: 'x', cidr: 'banana' }, 'cidr'],
      [{ name: 'x', cidr: '10.0.0.1/24' }, 'cidr'],
      [{ name: 'x', cidr: 42 }, 'cidr'],
      [{ name: 'x', cidr: '10.7.0.0/24', vni: 0 }, 'vni'],
      [{ name: 'x', cidr: '10.7.0.0/24', vni: 16_777_216 }, 'vni'],
      [{ name: 'with space', cidr: '10.7.0.0/24' }, 'name'],
      [{ name: 'ünïcødé', cidr: '10.7.0.0/24' }, 'name'],
      [{ name: 'a'.repeat(4096), cidr: '10.7.0.0/24' }, 'name'],
      [{ name: 'x', cidr: '10.7.0.0/24', mtu: 'big' }, 'mtu'],
      [{ name: 'x', cidr: '10.7.0.0/24', type: 'gre' }, 'type'],
      [{ name: 'x', cidr: '10.7.0.0/24', gateway: '10.8.0.1' }, 'gateway'],
      [{ name: 'x', cidr: '10.7.0.0/24', gateway: '10.7.0.255' }, 'gateway'],
      [{ name: 'x', cidr: '10.7.0.0/24', extra: 1 }, ''],
    ];
    for (const [body, path] of cases) {
      const r = await call('POST', '/v1/tenants/acme/networks', body);
      expect([r.status, r.json.code, r.json.path ?? ''], JSON.stringify(body).slice(0, 80)).toEqual([400, 'invalid', path]);
    }
    const c = await call('POST', '/v1/tenants/acme/containers', container('c', ['blue', 7 as never]));
    expect([c.status, c.json.path]).toEqual([400, 'networks.1']);
    const cmd = await call('POST', '/v1/tenants/acme/containers', container('c', ['blue'], { command: ['x'.repeat(4097)] }));
    expect([cmd.status, cmd.json.path]).toEqual([400, 'command.0']);
    const twice = await call('POST', '/v1/tenants/acme/containers', container('c', ['blue', 'blue']));
    expect([twice.status, twice.json.path]).toEqual([400, 'networks.1']);
    expect((await call('POST', '/v1/tokens', { kind: 'tenant' })).json.path).toBe('tenant');
    expect((await call('POST', '/v1/tenants', { name: 'x y' })).json.path).toBe('name');
    expect((await call('GET', '/v1/tenants?limit=abc')).json.path).toBe('limit');
    expect((await call('GET', '/v1/tenants?limit=0')).json.path).toBe('limit');
    expect((await call('GET', '/v1/tenants?after=garbage')).json.path).toBe('after');
  });

  it('never answers 500 to what a client sends: bad JSON, empty, huge bodies, other media types, unknown routes', async () => {
    const bad = await call('POST', '/v1/tenants', '{"name": ');
    expect([bad.status, bad.json.code]).toEqual([400, 'bad_json']);
    expect((await call('POST', '/v1/tenants', '')).status).toBe(400);
    expect((await call('POST', '/v1/tenants', 'null')).status).toBe(400);
    expect((await call('POST', '/v1/tenants', '[]')).status).toBe(400);
    const huge = await call('POST', '/v1/tenants', JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }));
    expect([huge.status, huge.json.code]).toEqual([413, 'body_too_large']);
    const text = await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'text/plain' },
      payload: 'x',
    });
    expect(text.statusCode).toBe(400);
    const xml = await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/xml' },
      payload: '<x/>',
    });
    expect(xml.statusCode).toBe(415);
    const unknown = await call('GET', '/v2/whatever');
    expect([unknown.status, unknown.json.code]).toEqual([404, 'not_found']);
    expect((await call('PATCH', '/v1/tenants')).status).toBe(404);
    expect((await call('GET', '/v1/tenants/acme/endpoints?after=WyJ4IiwieSJd')).status).toBe(400); // a cursor whose ip is not an address
  });

  it('accepts containers while no node is ready (pending, addresses allocated), then schedules them', async () => {
    const c1 = await ok('POST', '/v1/tenants/acme/containers', container('web', ['blue', 'green'], { command: ['sleep', '1'] }));
    expect(c1).toMatchObject({ node: null, observedState: 'pending', desiredState: 'running', command: ['sleep', '1'] });
    // .1 is the gateway, .254 the infra instance
    expect(c1.endpoints).toEqual([
      { network: 'blue', ip: '10.0.0.2', mac: macFor(vnis.blue, '10.0.0.2') },
      { network: 'green', ip: '10.1.0.1', mac: macFor(vnis.green, '10.1.0.1') },
    ]);
    await db.query(
      "INSERT INTO nodes (name, underlay_ip, ready) VALUES ('n1', '198.18.0.1', true), ('n2', '198.18.0.2', true), ('n3', '198.18.0.3', false)",
    );
    expect(await schedulePending(db)).toBe(5); // 4 infra instances (acme: blue, green, red; other: blue) + web
    const web = await ok('GET', '/v1/tenants/acme/containers/web');
    expect(['n1', 'n2']).toContain(web.node);
    const eps = await ok('GET', '/v1/tenants/acme/endpoints');
    expect(eps.items.filter((e: { container: string }) => e.container === 'web').every((e: { node: string }) => e.node === web.node)).toBe(
      true,
    );
    expect(eps.items.find((e: { kind: string; network: string }) => e.kind === 'infra' && e.network === 'blue')).toMatchObject({
      container: 'infra-blue',
      ip: '10.0.0.254',
    });
    const blueOnly = await ok('GET', '/v1/tenants/acme/endpoints?network=blue');
    expect(blueOnly.items.map((e: { ip: string }) => e.ip)).toEqual(['10.0.0.2', '10.0.0.254']);
    expect(blueOnly.items[0].nodeUnderlayIp).toMatch(/^198\.18\.0\.[12]$/);
  });

  it('takes per-container limits (memory with units, cpus, pids), shows them and carries them in the node view; refuses out-of-bounds values', async () => {
    const d = await ok('GET', '/v1/tenants/acme/containers/web');
    expect([d.memory, d.cpus, d.pids]).toEqual([512 * 2 ** 20, null, 1024]); // the defaults
    const c = await ok('POST', '/v1/tenants/acme/containers', container('limited', ['blue'], { memory: '64M', cpus: 0.5, pids: 100 }));
    expect([c.memory, c.cpus, c.pids]).toEqual([64 * 2 ** 20, 0.5, 100]);
    expect(await ok('GET', '/v1/tenants/acme/containers/limited')).toMatchObject({ memory: 64 * 2 ** 20, cpus: 0.5, pids: 100 });
    expect((await ok('POST', '/v1/tenants/acme/containers', container('bytes', ['blue'], { memory: 2 ** 30 }))).memory).toBe(2 ** 30);
    const { state } = await loadState(db, null);
    expect(containerView(state, state.containers.get(c.id)!)).toMatchObject({ limits: { memory: 64 * 2 ** 20, cpus: 0.5, pids: 100 } });
    for (const [extra, path] of [
      [{ memory: '1K' }, 'memory'],
      [{ memory: 'lots' }, 'memory'],
      [{ cpus: 0 }, 'cpus'],
      [{ pids: 1 }, 'pids'],
      [{ pids: 1.5 }, 'pids'],
    ] as const) {
      const r = await call('POST', '/v1/tenants/acme/containers', container('bad', ['blue'], extra));
      expect([r.status, r.json.code, r.json.path], JSON.stringify(extra)).toEqual([400, 'invalid', path]);
    }
    // the database refuses what the API would (CHECK), and the migration stays idempotent
    await expect(db.query("UPDATE containers SET memory_bytes = 1 WHERE name = 'limited'")).rejects.toThrow();
    await migrate(db);
    await ok('DELETE', '/v1/tenants/acme/containers/limited');
    await ok('DELETE', '/v1/tenants/acme/containers/bytes');
  });

  it('schedules on the least loaded ready node, or on the named node even if not ready', async () => {
    const before = await ok('GET', '/v1/nodes');
    const load = Object.fromEntries(before.items.map((n: { name: string; containers: number }) => [n.name, n.containers]));
    const least = load.n1 <= load.n2 ? 'n1' : 'n2';
    expect((await ok('POST', '/v1/tenants/acme/containers', container('db', ['blue']))).node).toBe(least);
    expect((await ok('POST', '/v1/tenants/acme/containers', container('pinned', ['blue'], { node: 'n3' }))).node).toBe('n3');
    const missing = await call('POST', '/v1/tenants/acme/containers', container('lost', ['blue'], { node: 'nowhere' }));
    expect([missing.status, missing.json.code]).toEqual([404, 'node_not_found']);
    const noNet = await call('POST', '/v1/tenants/acme/containers', container('lost', ['nonet']));
    expect([noNet.status, noNet.json.code]).toEqual([404, 'network_not_found']);
    const dup = await call('POST', '/v1/tenants/acme/containers', container('db', ['blue']));
    expect([dup.status, dup.json.code]).toEqual([409, 'conflict']);
  });

  it('fills a /29 and answers 409 pool_exhausted naming the network; delete frees the address', async () => {
    await ok('POST', '/v1/tenants/acme/networks', { name: 'tiny', cidr: '10.3.0.0/29' });
    const ips: string[] = [];
    for (let i = 0; i < 5; i++) ips.push((await ok('POST', '/v1/tenants/acme/containers', container(`t${i}`, ['tiny']))).endpoints[0].ip);
    expect(ips).toEqual(['10.3.0.1', '10.3.0.2', '10.3.0.3', '10.3.0.4', '10.3.0.5']);
    const full = await call('POST', '/v1/tenants/acme/containers', container('t5', ['tiny']));
    expect([full.status, full.json.code]).toEqual([409, 'pool_exhausted']);
    expect(full.json.message).toMatch(/network tiny \(10\.3\.0\.0\/29\)/);
    expect((await call('GET', '/v1/tenants/acme/containers/t5')).status).toBe(404); // nothing half-created
    expect((await call('DELETE', '/v1/tenants/acme/containers/t2')).status).toBe(204);
    expect((await ok('POST', '/v1/tenants/acme/containers', container('t5', ['tiny']))).endpoints[0].ip).toBe('10.3.0.3');
  });

  it('group-commits concurrent creates: a failing one (duplicate name, exhausted pool) does not sink the others', async () => {
    await ok('POST', '/v1/tenants/acme/networks', { name: 'duo', cidr: '10.4.0.0/30' }); // one address for containers
    const bodies = [
      container('g1', ['blue']),
      container('g2', ['blue']),
      container('g1', ['blue']), // duplicate name: a database error inside the batch
      container('d1', ['duo']),
      container('d2', ['duo']), // pool exhausted: an API error inside the batch
      container('g3', ['blue']),
    ];
    const res = await Promise.all(bodies.map((b) => call('POST', '/v1/tenants/acme/containers', b)));
    const codes = res.map((r) => (r.status === 201 ? 'ok' : r.json.code));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(4);
    expect(codes.filter((c) => c === 'conflict')).toHaveLength(1);
    expect(codes.filter((c) => c === 'pool_exhausted')).toHaveLength(1);
    const created = res.filter((r) => r.status === 201).map((r) => r.json);
    expect(new Set(created.map((c) => c.endpoints[0].ip)).size).toBe(4);
    for (const c of created) expect((await ok('GET', `/v1/tenants/acme/containers/${c.name}`)).endpoints).toEqual(c.endpoints);
    for (const n of ['g1', 'g2', 'g3']) await ok('DELETE', `/v1/tenants/acme/containers/${n}`);
    await ok('DELETE', `/v1/tenants/acme/containers/${codes[3] === 'ok' ? 'd1' : 'd2'}`);
    await ok('DELETE', '/v1/tenants/acme/networks/duo');
  });

  it('rejects a duplicate IP inserted by direct SQL (unique violation) and maps it to 409', async () => {
    const { rows } = await db.query<{ tenant_id: string; network_id: string; ip: string }>(
      "SELECT e.tenant_id, e.network_id, host(e.ip) AS ip FROM endpoints e JOIN networks n ON n.id = e.network_id WHERE n.name = 'tiny' LIMIT 1",
    );
    const { rows: c } = await db.query<{ id: string }>("SELECT id FROM containers WHERE name = 'web'");
    const err = await db
      .query('INSERT INTO endpoints (tenant_id, network_id, container_id, ip, mac, ifindex) VALUES ($1, $2, $3, $4, $5, 5)', [
        rows[0].tenant_id,
        rows[0].network_id,
        c[0].id,
        rows[0].ip,
        '02:ff:ff:ff:ff:01',
      ])
      .catch((e: unknown) => e);
    expect(sqlState(err)).toBe('23505');
    expect((err as { constraint?: string }).constraint).toBe('endpoints_network_id_ip_key');
    expect(fromDatabase(err, 'insert endpoint')).toMatchObject({ status: 409, code: 'address_in_use' });
    const outside = await db
      .query('INSERT INTO endpoints (tenant_id, network_id, container_id, ip, mac, ifindex) VALUES ($1, $2, $3, $4, $5, 5)', [
        rows[0].tenant_id,
        rows[0].network_id,
        c[0].id,
        '10.3.0.7',
        '02:ff:ff:ff:ff:02',
      ])
      .catch((e: unknown) => e);
    expect(sqlState(outside)).toBe('23514'); // broadcast address
    expect(fromDatabase(outside, 'insert endpoint')).toMatchObject({ status: 400, code: 'invalid' });
  });

  it('starts, stops, shows logs (503 when the node is not connected)', async () => {
    expect((await ok('POST', '/v1/tenants/acme/containers/web/actions', { action: 'stop' })).desiredState).toBe('stopped');
    expect((await ok('POST', '/v1/tenants/acme/containers/web/actions', { action: 'start' })).desiredState).toBe('running');
    expect((await call('POST', '/v1/tenants/acme/containers/web/actions', { action: 'explode' })).json.path).toBe('action');
    const logs = await call('GET', '/v1/tenants/acme/containers/web/logs?tail=5');
    expect([logs.status, logs.json.code]).toEqual([503, 'node_unavailable']);
    expect((await call('GET', '/v1/tenants/acme/containers/nope/logs')).status).toBe(404);
  });

  it('refuses to delete a network with containers, or a tenant with networks; deleting a network takes its infra', async () => {
    const busy = await call('DELETE', '/v1/tenants/acme/networks/tiny');
    expect([busy.status, busy.json.code]).toEqual([409, 'in_use']);
    expect((await call('DELETE', '/v1/tenants/acme')).json.code).toBe('in_use');
    for (const n of ['t0', 't1', 't3', 't4', 't5']) await ok('DELETE', `/v1/tenants/acme/containers/${n}`);
    expect((await call('DELETE', '/v1/tenants/acme/networks/tiny')).status).toBe(204);
    const { rows } = await db.query("SELECT 1 FROM containers WHERE name = 'infra-tiny'");
    expect(rows).toHaveLength(0);
    expect((await call('GET', '/v1/tenants/acme/networks/tiny')).json.code).toBe('network_not_found');
  });

  it("isolates tenants: another tenant's objects answer 404 on every route, admin routes 403", async () => {
    const { token } = await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'other' });
    const own = await ok('GET', '/v1/tenants', undefined, token);
    expect(own.items.map((t: { name: string }) => t.name)).toEqual(['other']);
    expect((await ok('GET', '/v1/tenants/other/networks', undefined, token)).items).toHaveLength(1);
    const foreign: Array<[string, string, unknown?]> = [
      ['GET', '/v1/tenants/acme'],
      ['GET', '/v1/tenants/acme/networks'],
      ['GET', '/v1/tenants/acme/networks/blue'],
      ['POST', '/v1/tenants/acme/networks', { name: 'x', cidr: '10.77.0.0/24' }],
      ['DELETE', '/v1/tenants/acme/networks/blue'],
      ['GET', '/v1/tenants/acme/containers'],
      ['GET', '/v1/tenants/acme/containers/web'],
      ['POST', '/v1/tenants/acme/containers', container('x', ['blue'])],
      ['DELETE', '/v1/tenants/acme/containers/web'],
      ['POST', '/v1/tenants/acme/containers/web/actions', { action: 'stop' }],
      ['GET', '/v1/tenants/acme/containers/web/logs'],
      ['GET', '/v1/tenants/acme/endpoints'],
    ];
    for (const [m, url, body] of foreign) {
      const r = await call(m, url, body, token);
      expect([r.status, r.json.code], `${m} ${url}`).toEqual([404, 'tenant_not_found']);
    }
    const adminOnly: Array<[string, string, unknown?]> = [
      ['POST', '/v1/tenants', { name: 'evil' }],
      ['DELETE', '/v1/tenants/other'],
      ['GET', '/v1/nodes'],
      ['GET', '/v1/nodes/n1'],
      ['DELETE', '/v1/nodes/n1'],
      ['GET', '/v1/status'],
      ['POST', '/v1/tokens', { kind: 'admin' }],
      ['GET', '/v1/tokens'],
    ];
    for (const [m, url, body] of adminOnly) expect((await call(m, url, body, token)).status, `${m} ${url}`).toBe(403);
    expect((await ok('GET', '/v1/tenants/acme/containers/web')).name).toBe('web'); // untouched
  });

  it('shows nodes and status; deleting a node makes its containers pending and reschedules them', async () => {
    await db.query("UPDATE nodes SET desired_revision = 10, applied_revision = 7, last_seen = now() WHERE name = 'n1'");
    const n1 = await ok('GET', '/v1/nodes/n1');
    expect(n1).toMatchObject({ name: 'n1', underlayIp: '198.18.0.1', ready: true, desiredRevision: 10, appliedRevision: 7, lag: 3 });
    expect(n1.containers).toBeGreaterThan(0);
    expect((await call('GET', '/v1/nodes/zz')).json.code).toBe('node_not_found');
    const status = await ok('GET', '/v1/status');
    expect(status.revision).toBeGreaterThan(0);
    // n9: registered (NotReady, no agent yet) by the node token created above
    expect(status.nodes.map((n: { name: string }) => n.name)).toEqual(['n1', 'n2', 'n3', 'n9']);
    expect(status.nodes.find((n: { name: string }) => n.name === 'n9')).toMatchObject({ ready: false });
    expect((await call('DELETE', '/v1/nodes/n1')).status).toBe(204);
    const { rows } = await db.query("SELECT 1 FROM containers c JOIN nodes n ON n.id = c.node_id WHERE n.name <> 'n2' AND n.name <> 'n3'");
    expect(rows).toHaveLength(0);
    const { rows: pending } = await db.query('SELECT 1 FROM containers WHERE node_id IS NULL');
    expect(pending).toHaveLength(0); // all moved to n2
  });

  it('keeps an audit log of mutating calls, with the actor, also for refused ones', async () => {
    await call('POST', '/v1/tenants', { name: 'audited' });
    await call('DELETE', '/v1/tenants/audited', undefined, 'wrong-token');
    await (app as unknown as { audit: { flush(): Promise<void> } }).audit.flush();
    const { rows } = await db.query<{ actor: string; method: string; status: number }>(
      "SELECT actor, method, status FROM audit_log WHERE path IN ('/v1/tenants', '/v1/tenants/audited') ORDER BY id DESC LIMIT 2",
    );
    expect(rows[0]).toEqual({ actor: 'anonymous', method: 'DELETE', status: 401 });
    expect(rows[1]).toMatchObject({ method: 'POST', status: 201 });
    expect(rows[1].actor).toMatch(/^admin:[0-9a-f-]{36}$/);
  });

  it('serves /openapi.json, /healthz and /metrics', async () => {
    const doc = (await call('GET', '/openapi.json', undefined, null)).json;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/v1/tenants/{tenant}/networks'].post.requestBody.content['application/json'].schema.properties.cidr).toBeTruthy();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/tokens/{id}', '/v1/status', '/v1/tenants/{tenant}/endpoints']));
    expect((await call('GET', '/healthz', undefined, null)).json).toMatchObject({ status: 'ok', database: 'reachable' });
    const m = await call('GET', '/metrics', undefined, null);
    expect(m.text).toMatch(/freight_http_requests_total\{method="POST",route="\/v1\/tenants",status="201"\} \d+/);
    expect(m.text).toMatch(/status="409"/);
  });
});

describe('REST API with the database down', () => {
  it('answers 503 database_unavailable and healthz reports unreachable', async () => {
    const db = await openDb({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none' });
    const app = await buildApp({ db, log, push: false });
    try {
      const h = await app.inject({ method: 'GET', url: '/healthz' });
      expect([h.statusCode, h.json().database]).toEqual([503, 'unreachable']);
      const r = await app.inject({ method: 'GET', url: '/v1/tenants', headers: { authorization: 'Bearer x' } });
      expect([r.statusCode, r.json().code]).toEqual([503, 'database_unavailable']);
    } finally {
      await app.close();
      await db.close();
    }
  });
});
