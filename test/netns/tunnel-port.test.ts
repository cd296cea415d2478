/**
 * Per-type parameters honoured by the agent: a vxlan network whose params say port 8472 gets a
 * tunnel device on 8472 and its traffic crosses the underlay on UDP 8472 (tcpdump on node0's
 * underlay interface), while a default vxlan network on the same nodes keeps 4789.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, sh } from '../support/netns.js';
import { endpoint, Harness, network, viewsFor, type DataplaneProc } from './harness.js';

/** tcpdump lines on an interface of a namespace while `act` runs. */
async function captured(ns: string, ifname: string, filter: string[], act: () => void): Promise<string[]> {
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-l', '-nn', '-i', ifname, ...filter]);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 20_000);
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  act();
  await new Promise((r) => setTimeout(r, 500));
  const ended = new Promise((r) => p.on('close', r));
  p.kill('SIGINT');
  await ended;
  return out.split('\n').filter(Boolean);
}

describe.skipIf(!isRoot)('a vxlan network on a port of its own (params.port)', () => {
  let h: Harness;
  const dps: DataplaneProc[] = [];
  const alt = { ...network({ id: 'alt', vni: 310 }), params: { type: 'vxlan' as const, port: 8472 } };
  const std = { ...network({ id: 'std', vni: 311, cidr: '10.1.0.0/24' }), params: { type: 'vxlan' as const, port: 4789 } };
  const eps = [
    endpoint('a0', 'alt', 0, '02:00:00:00:31:00', '10.0.0.10'),
    endpoint('a1', 'alt', 1, '02:00:00:00:31:01', '10.0.0.11'),
    endpoint('s0', 'std', 0, '02:00:00:00:31:10', '10.1.0.10'),
    endpoint('s1', 'std', 1, '02:00:00:00:31:11', '10.1.0.11'),
  ];

  beforeAll(async () => {
    h = await Harness.create({ nodes: 2 });
    for (let i = 0; i < 2; i++) dps.push(await h.startDataplane(i));
    const views = viewsFor(h, [alt, std], eps);
    for (const r of await Promise.all(dps.map((d, i) => d.apply(views[i])))) expect(r.errors).toEqual([]);
  });
  afterAll(() => h?.cleanup());

  it('the device listens on 8472 and the traffic crosses the underlay on UDP 8472, the default network on 4789', async () => {
    const n0 = h.node(0).ns;
    expect(sh('ip', ['-d', 'link', 'show', 'frx-310'], { ns: n0 })).toMatch(/vxlan id 310 .*dstport 8472/s);
    expect(sh('ip', ['-d', 'link', 'show', 'frx-311'], { ns: n0 })).toMatch(/vxlan id 311 .*dstport 4789/s);
    const c = eps.map((e) =>
      h.addContainerNs(e.nodeIndex, { mac: e.mac, ip: `${e.ip}/24`, bridge: `frb-${e.network === 'alt' ? 310 : 311}`, mtu: 1450 }),
    );
    let altOk = false;
    let stdOk = false;
    const lines = await captured(n0, 'ul0', ['-T', 'vxlan', 'udp'], () => {
      altOk = h.ping(c[0], '10.0.0.11', 3);
      stdOk = h.ping(c[2], '10.1.0.11', 3);
    });
    expect(altOk).toBe(true);
    expect(stdOk).toBe(true);
    const on = (port: number) => lines.filter((l) => new RegExp(`\\.${port}: `).test(l) || new RegExp(`\\.${port} > `).test(l));
    // both directions of 3 pings (and ARP) on 8472 for alt; the same on 4789 for std
    expect(on(8472).length).toBeGreaterThanOrEqual(6);
    expect(on(4789).length).toBeGreaterThanOrEqual(6);
    expect(on(8472).join('\n')).toMatch(/VXLAN.*vni 310/);
    expect(on(4789).join('\n')).not.toMatch(/vni 310/);
    expect(on(8472).join('\n')).not.toMatch(/vni 311/);
  });
});
