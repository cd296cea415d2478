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

const ADMIN = 'admin-secret-for-physical-tests';
const log = pino({ level: 'silent' });

/** Physical networks and per-type parameters through the REST API, on both stores. */
describe.each(BACKENDS)('physical networks and per-type params on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let tenantToken = '';
  const call = async (method: string, url: string, body?: unknown, token: string | null = ADMIN) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, json: res.body ? res.json() : undefined };
  };
  const ok = async (method: string, url: string, body?: unknown, token?: string) => {
    const r = await call(method, url, body, token);
    if (r.status >= 300) throw new Error(`${method} ${url} → ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  const phys = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    cidr: '192.168.10.0/24',
    gateway: '192.168.10.1',
    params: { type: 'physical', physicalNetwork: 'datacenter' },
    pools: [{ start: '192.168.10.100', end: '192.168.10.199' }],
    ...extra,
  });
  /** A node as its agent reports it: ready, mapping these physical networks. */
  const node = async (name: string, ip: string, physical: Record<string, string>) => {
    await ok('POST', '/v1/tokens', { kind: 'node', node: name });
    const physicalNetworks = Object.fromEntries(Object.entries(physical).map(([k, iface]) => [k, { interface: iface, mtu: 1500 }]));
    await db.query('UPDATE nodes SET underlay_ip = $2, ready = true, capabilities = $3 WHERE name = $1', [
      name,
      ip,
      JSON.stringify({ vxlan: true, physicalNetworks }),
    ]);
  };

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false, auditOptions: { authFailureEveryMs: 0 } });
    for (const name of ['acme', 'globex']) await ok('POST', '/v1/tenants', { name });
    tenantToken = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token;
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('only an admin creates a physical network: a tenant token gets 403 admin_only_network_type', async () => {
    const r = await call('POST', '/v1/tenants/acme/networks', phys('dc'), tenantToken);
    expect([r.status, r.json.code, r.json.path]).toEqual([403, 'admin_only_network_type', 'type']);
    const r2 = await call('POST', '/v1/tenants/acme/networks', { ...phys('dc'), type: 'physical' }, tenantToken);
    expect(r2.json.code).toBe('admin_only_network_type');
    expect((await ok('GET', '/v1/tenants/acme/networks', undefined, tenantToken)).items).toEqual([]);
  });

  it('creates a flat network with its pool; the infra address is the pool top; show gives params, pools, dhcp, no VNI', async () => {
    const r = await ok('POST', '/v1/tenants/acme/networks', phys('dc'));
    expect(r).toMatchObject({
      type: 'physical',
      vni: null,
      params: { type: 'physical', physicalNetwork: 'datacenter' },
      pools: [{ start: '192.168.10.100', end: '192.168.10.199' }],
      dhcp: true,
      infra: { ip: '192.168.10.199', node: null },
    });
    expect(r.params).not.toHaveProperty('vlan');
    expect(await ok('GET', '/v1/tenants/acme/networks/dc')).toEqual(r);
  });

  it('one flat network per physical network, across tenants (409 conflict naming it)', async () => {
    const r = await call(
      'POST',
      '/v1/tenants/globex/networks',
      phys('dc2', { cidr: '10.9.0.0/24', gateway: undefined, pools: [{ start: '10.9.0.10', end: '10.9.0.20' }] }),
    );
    expect([r.status, r.json.code]).toEqual([409, 'conflict']);
    expect(r.json.message).toMatch(/flat \(untagged\)/);
  });

  it('a VLAN is unique per physical network across tenants; the same VLAN on another physical network is fine', async () => {
    const v100 = (name: string, pn = 'datacenter') =>
      phys(name, {
        cidr: '10.100.0.0/24',
        gateway: undefined,
        params: { type: 'physical', physicalNetwork: pn, vlan: 100 },
        pools: [{ start: '10.100.0.10', end: '10.100.0.50' }],
      });
    const a = await ok('POST', '/v1/tenants/acme/networks', v100('v100'));
    expect(a.params).toEqual({ type: 'physical', physicalNetwork: 'datacenter', vlan: 100 });
    const dup = await call('POST', '/v1/tenants/globex/networks', v100('v100'));
    expect([dup.status, dup.json.code]).toEqual([409, 'conflict']);
    expect(dup.json.message).toMatch(/VLAN is already used/);
    expect((await call('POST', '/v1/tenants/globex/networks', v100('v100', 'lab'))).status).toBe(201);
  });

  it('validates params, pools and VNI with field paths, writing nothing', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [phys('x', { pools: undefined }), 'pools', /required for a physical network/],
      [phys('x', { params: undefined, type: 'physical' }), 'params', /required for a physical network/],
      [phys('x', { vni: 7 }), 'vni', /no VNI/],
      [phys('x', { params: { type: 'physical', physicalNetwork: 'datacenter', vlan: 4095 } }), 'params.vlan', /4094/],
      [phys('x', { params: { type: 'physical', physicalNetwork: 'Bad_Name', vlan: 7 } }), 'params.physicalNetwork', /lower-case/],
      [phys('x', { params: { type: 'physical', physicalNetwork: 'datacenter', vlan: 7, port: 1 } }), 'params', /port/],
      [phys('x', { pools: [{ start: '192.168.10.200', end: '192.168.10.100' }] }), 'pools.0.end', /below/],
      [phys('x', { pools: [{ start: '192.168.11.1', end: '192.168.11.5' }] }), 'pools.0.start', /not a host address/],
      [phys('x', { pools: [{ start: '192.168.10.1', end: '192.168.10.9' }] }), 'pools.0', /contains the gateway/],
      [
        phys('x', {
          pools: [
            { start: '192.168.10.10', end: '192.168.10.20' },
            { start: '192.168.10.20', end: '192.168.10.30' },
          ],
        }),
        'pools.1',
        /overlaps pool 0/,
      ],
      [phys('x', { pools: [{ start: '192.168.10.10', end: '192.168.10.10' }] }), 'pools', /fewer than 2/],
      [
        { name: 'x', cidr: '10.50.0.0/24', type: 'vxlan', params: { type: 'geneve', port: 6081 } },
        'params.type',
        /network's type is vxlan/,
      ],
      [{ name: 'x', cidr: '10.50.0.0/24', params: { type: 'vxlan', port: 70000 } }, 'params.port', /65535/],
      [{ name: 'x', cidr: '10.50.0.0/24', params: { type: 'ipsec', rotateHours: 0 } }, 'params.rotateHours', /0.01/],
      [{ name: 'x', cidr: '10.50.0.0/24', params: { type: 'mpls' } }, 'params.type', /./],
    ];
    for (const [body, path, msg] of cases) {
      const r = await call('POST', '/v1/tenants/acme/networks', body);
      expect([r.status, r.json.code, r.json.path], JSON.stringify(body)).toEqual([400, 'invalid', path]);
      expect(r.json.message, path).toMatch(msg);
    }
    expect((await ok('GET', '/v1/tenants/acme/networks')).items.map((n: { name: string }) => n.name)).not.toContain('x');
  });

  it('per-type params get their defaults and are stored: vxlan 4789 or a port of its own, geneve 6081, ipsec rotateHours', async () => {
    const plain = await ok('POST', '/v1/tenants/globex/networks', { name: 'plain', cidr: '10.60.0.0/24' });
    expect([plain.type, plain.params]).toEqual(['vxlan', { type: 'vxlan', port: 4789 }]);
    const alt = await ok('POST', '/v1/tenants/globex/networks', {
      name: 'alt',
      cidr: '10.61.0.0/24',
      params: { type: 'vxlan', port: 8472 },
    });
    expect([alt.type, alt.params]).toEqual(['vxlan', { type: 'vxlan', port: 8472 }]);
    const gn = await ok('POST', '/v1/tenants/globex/networks', { name: 'gn', cidr: '10.62.0.0/24', type: 'geneve' });
    expect(gn.params).toEqual({ type: 'geneve', port: 6081 });
    const ip = await ok('POST', '/v1/tenants/globex/networks', {
      name: 'ip',
      cidr: '10.63.0.0/24',
      params: { type: 'ipsec', rotateHours: 6 },
    });
    expect([ip.type, ip.params]).toEqual(['ipsec', { type: 'ipsec', rotateHours: 6 }]);
    expect((await ok('GET', '/v1/tenants/globex/networks/alt')).params).toEqual({ type: 'vxlan', port: 8472 });
    // the database refuses what the API would: a vxlan row with a VLAN, an ipsec row with a port
    await expect(db.query("UPDATE networks SET vlan = 5 WHERE name = 'alt'")).rejects.toThrow(/networks_params/);
    await expect(db.query("UPDATE networks SET tunnel_port = 1 WHERE name = 'ip'")).rejects.toThrow(/networks_params/);
    await expect(db.query("UPDATE networks SET vni = 77 WHERE name = 'dc'")).rejects.toThrow(/networks_params/);
  });

  it('an overlay with pools allocates only inside them; --no-dhcp is stored and shown', async () => {
    const n = await ok('POST', '/v1/tenants/globex/networks', {
      name: 'pooled',
      cidr: '10.70.0.0/24',
      pools: [{ start: '10.70.0.50', end: '10.70.0.52' }],
      dhcp: false,
    });
    expect([n.dhcp, n.infra.ip]).toEqual([false, '10.70.0.52']);
    const ips = [];
    for (const name of ['p1', 'p2'])
      ips.push((await ok('POST', '/v1/tenants/globex/containers', { name, image: 'busybox', networks: ['pooled'] })).endpoints[0].ip);
    expect(ips).toEqual(['10.70.0.50', '10.70.0.51']);
    const full = await call('POST', '/v1/tenants/globex/containers', { name: 'p3', image: 'busybox', networks: ['pooled'] });
    expect([full.status, full.json.code]).toEqual([409, 'pool_exhausted']);
    expect(full.json.message).toMatch(/10\.70\.0\.50-10\.70\.0\.52/);
  });

  it('schedules containers of a physical network only to nodes that map it; none → pending with a reason', async () => {
    const c = await ok('POST', '/v1/tenants/acme/containers', { name: 'web', image: 'busybox', networks: ['dc'] });
    expect([c.node, c.observedState, c.reason]).toEqual([
      null,
      'pending',
      expect.stringMatching(/no ready node maps physical network datacenter/),
    ]);
    expect((await ok('GET', '/v1/tenants/acme/containers/web')).reason).toMatch(/datacenter/);
    await node('plain', '198.18.0.1', {});
    expect(await schedulePending(db)).toBeGreaterThanOrEqual(0);
    expect((await ok('GET', '/v1/tenants/acme/containers/web')).node).toBeNull();
    await node('rack1', '198.18.0.2', { datacenter: 'eth1' });
    await schedulePending(db);
    const placed = await ok('GET', '/v1/tenants/acme/containers/web');
    expect([placed.node, placed.reason]).toEqual(['rack1', null]);
    expect((await ok('GET', '/v1/tenants/acme/networks/dc')).infra.node).toBe('rack1');
    // new containers go straight to a mapped node; pinning to an unmapped one is refused
    for (const name of ['w2', 'w3'])
      expect((await ok('POST', '/v1/tenants/acme/containers', { name, image: 'busybox', networks: ['dc'] })).node).toBe('rack1');
    const pinned = await call('POST', '/v1/tenants/acme/containers', { name: 'w4', image: 'busybox', networks: ['dc'], node: 'plain' });
    expect([pinned.status, pinned.json.code, pinned.json.path]).toEqual([409, 'node_lacks_physical_network', 'node']);
    // addresses from the pool only, the gateway and the segment's other hosts untouched
    for (const e of placed.endpoints) expect(Number(e.ip.split('.')[3])).toBeGreaterThanOrEqual(100);
    expect((await ok('GET', '/v1/nodes/rack1')).capabilities.physicalNetworks).toEqual({ datacenter: { interface: 'eth1', mtu: 1500 } });
  });

  it("the view carries params and dhcp, the mapped interface's MTU, no flood list", async () => {
    await db.query(
      `UPDATE nodes SET capabilities = jsonb_set(capabilities, '{physicalNetworks,datacenter,mtu}', '9000') WHERE name = 'rack1'`,
    );
    const { state } = await loadState(db, null);
    const view = compileView(state, 'rack1', 1);
    const dc = Object.values(view.networks).find((n) => n.name === 'dc')!;
    expect(dc).toMatchObject({
      type: 'physical',
      vni: null,
      params: { type: 'physical', physicalNetwork: 'datacenter' },
      dhcp: true,
      mtu: 9000,
      flood: [],
    });
  });

  it('the OpenAPI document describes params as a union of the four types', async () => {
    const doc = (await call('GET', '/openapi.json', undefined, null)).json as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    const text = JSON.stringify(doc.paths['/v1/tenants/{tenant}/networks'].post.requestBody);
    for (const s of ['physicalNetwork', 'rotateHours', '"vlan"', '"pools"', '"dhcp"', '4789', '6081']) expect(text).toContain(s);
  });
});
