import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, SKIP_REASON, sh } from '../support/netns.js';
import { endpoint, Harness, network, viewsFor, type DataplaneProc } from './harness.js';

if (!isRoot) console.warn(`dataplane tests skipped: ${SKIP_REASON}`);

describe.skipIf(!isRoot)('dataplane across three nodes (vxlan)', () => {
  let h: Harness;
  const dps: DataplaneProc[] = [];
  const netA = network({ id: 'net-a', vni: 100 });
  const netB = network({ id: 'net-b', vni: 200, tenant: 'other' }); // same CIDR, other VNI
  const eps = [
    endpoint('a0', 'net-a', 0, '02:00:00:00:0a:00', '10.0.0.10'),
    endpoint('a1', 'net-a', 1, '02:00:00:00:0a:01', '10.0.0.11'),
    endpoint('a2', 'net-a', 2, '02:00:00:00:0a:02', '10.0.0.12'),
    endpoint('b0', 'net-b', 0, '02:00:00:00:0b:00', '10.0.0.20'),
    endpoint('b1', 'net-b', 1, '02:00:00:00:0b:01', '10.0.0.21'),
  ];

  beforeAll(async () => {
    h = await Harness.create({ nodes: 3 });
    for (let i = 0; i < 3; i++) dps.push(await h.startDataplane(i));
  });
  afterAll(() => h?.cleanup());

  it('installs bridges, tunnels, FDB, flood and neighbour entries; containers ping across nodes', async () => {
    const views = viewsFor(h, [netA, netB], eps);
    const results = await Promise.all(dps.map((d, i) => d.apply(views[i])));
    for (const r of results) expect(r.errors).toEqual([]);
    const n0 = h.node(0).ns;
    const link = sh('ip', ['-d', 'link', 'show', 'frx-100'], { ns: n0 });
    expect(link).toMatch(/vxlan id 100 local 198\.18\.0\.1 .*dstport 4789/s);
    expect(link).toMatch(/nolearning/);
    expect(link).toMatch(/master frb-100/);
    expect(sh('bridge', ['-d', 'link', 'show', 'dev', 'frx-100'], { ns: n0 })).toMatch(/learning off.*neigh_suppress on/s);
    const fdb = sh('bridge', ['fdb', 'show', 'dev', 'frx-100'], { ns: n0 });
    expect(fdb).toContain('02:00:00:00:0a:01 dst 198.18.0.2 self permanent');
    expect(fdb).toContain('02:00:00:00:0a:02 dst 198.18.0.3 self permanent');
    expect(fdb).toContain('00:00:00:00:00:00 dst 198.18.0.2 self permanent');
    expect(fdb).toContain('00:00:00:00:00:00 dst 198.18.0.3 self permanent');
    expect(fdb).not.toContain('0a:00 dst'); // local endpoint: no FDB entry
    const neigh = sh('ip', ['neigh', 'show', 'dev', 'frb-100'], { ns: n0 });
    expect(neigh).toContain('10.0.0.11 lladdr 02:00:00:00:0a:01 PERMANENT');
    // net-b on node 2 has no endpoints there, but node 2 still gets the network
    expect(sh('bridge', ['fdb', 'show', 'dev', 'frx-200'], { ns: h.node(2).ns })).toContain('00:00:00:00:00:00 dst 198.18.0.1');

    const c = eps.map((e) =>
      h.addContainerNs(e.nodeIndex, { mac: e.mac, ip: `${e.ip}/24`, bridge: e.network === 'net-a' ? 'frb-100' : 'frb-200', mtu: 1450 }),
    );
    expect(h.ping(c[0], '10.0.0.11')).toBe(true);
    expect(h.ping(c[0], '10.0.0.12')).toBe(true);
    expect(h.ping(c[1], '10.0.0.12')).toBe(true);
    expect(h.ping(c[3], '10.0.0.21')).toBe(true);
    // same CIDR on another VNI stays isolated
    expect(h.ping(c[3], '10.0.0.11', 1)).toBe(false);
    expect(h.ping(c[0], '10.0.0.21', 1)).toBe(false);
  });

  it('re-applying the same views plans zero ops', async () => {
    const views = viewsFor(h, [netA, netB], eps);
    const results = await Promise.all(dps.map((d, i) => d.apply(views[i])));
    for (const r of results) expect(r.ops).toEqual([]);
  });

  it('removing an endpoint removes its entries on every node', async () => {
    const views = viewsFor(
      h,
      [netA, netB],
      eps.filter((e) => e.id !== 'a2'),
      2,
    );
    const results = await Promise.all(dps.map((d, i) => d.apply(views[i])));
    for (const r of results) expect(r.errors).toEqual([]);
    for (const i of [0, 1]) {
      const ns = h.node(i).ns;
      expect(sh('bridge', ['fdb', 'show', 'dev', 'frx-100'], { ns })).not.toMatch(/02:00:00:00:0a:02|dst 198\.18\.0\.3/);
      expect(sh('ip', ['neigh', 'show', 'dev', 'frb-100'], { ns })).not.toContain('10.0.0.12');
    }
  });

  it('a geneve network errors clearly on this kernel while the others still apply', async () => {
    const gen = network({ id: 'net-g', vni: 300, type: 'geneve', name: 'web' });
    const views = viewsFor(
      h,
      [netA, netB, gen],
      eps.filter((e) => e.id !== 'a2'),
      3,
    );
    const r = await dps[0].apply(views[0]);
    const caps = (await dps[0].ready).capabilities as { geneve: boolean };
    if (caps.geneve) return; // a kernel with geneve: nothing to refuse
    expect(r.networkErrors).toEqual([
      { network: 'net-g', message: 'geneve network acme/web (vni 300): kernel lacks geneve (module not available)' },
    ]);
    expect(r.errors).toEqual([]);
    expect(sh('ip', ['link', 'show'], { ns: h.node(0).ns })).not.toContain('frg-300');
  });
});
