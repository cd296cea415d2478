import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, SKIP_REASON, sh } from '../support/netns.js';
import { endpoint, Harness, network, viewsFor, type ContainerNs, type DataplaneProc } from './harness.js';

if (!isRoot) console.warn(`dataplane restart/drift tests skipped: ${SKIP_REASON}`);

async function until(fn: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return fn();
}

describe.skipIf(!isRoot)('dataplane restart safety and drift repair (two nodes)', () => {
  let h: Harness;
  const dps: DataplaneProc[] = [];
  let c: ContainerNs[] = [];
  const net = network({ id: 'net-a', vni: 100 });
  const eps = [endpoint('a0', 'net-a', 0, '02:00:00:00:0a:00', '10.0.0.10'), endpoint('a1', 'net-a', 1, '02:00:00:00:0a:01', '10.0.0.11')];
  const views = () => viewsFor(h, [net], eps);

  beforeAll(async () => {
    h = await Harness.create({ nodes: 2 });
    for (let i = 0; i < 2; i++) dps.push(await h.startDataplane(i, { auditMs: 1000 }));
    const v = views();
    await Promise.all(dps.map((d, i) => d.apply(v[i])));
    c = eps.map((e) => h.addContainerNs(e.nodeIndex, { mac: e.mac, ip: `${e.ip}/24`, bridge: 'frb-100', mtu: 1450 }));
    expect(h.ping(c[0], '10.0.0.11')).toBe(true);
  });
  afterAll(() => h?.cleanup());

  it('killing and restarting the dataplane during a 10 packets/s ping loses nothing and plans 0 ops', async () => {
    const ping = spawn('ip', ['netns', 'exec', c[0].ns, 'ping', '-c', '50', '-i', '0.1', '-W', '1', '10.0.0.11'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    ping.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((r) => ping.on('exit', r));
    await new Promise((r) => setTimeout(r, 800));
    await dps[0].kill('SIGKILL');
    dps[0] = await h.startDataplane(0, { auditMs: 1000 });
    const r = await dps[0].apply(views()[0]);
    expect(r.ops).toEqual([]);
    expect(await done).toBe(0);
    expect(out).toMatch(/50 packets transmitted, 50 received, 0% packet loss/);
  });

  it('repairs an FDB entry deleted by hand within the audit interval', async () => {
    const ns = h.node(0).ns;
    sh('bridge', ['fdb', 'del', '02:00:00:00:0a:01', 'dev', 'frx-100', 'dst', '198.18.0.2', 'self'], { ns });
    expect(sh('bridge', ['fdb', 'show', 'dev', 'frx-100'], { ns })).not.toContain('02:00:00:00:0a:01 dst');
    const repaired = await until(
      () => sh('bridge', ['fdb', 'show', 'dev', 'frx-100'], { ns }).includes('02:00:00:00:0a:01 dst 198.18.0.2 self permanent'),
      2500,
    );
    expect(repaired).toBe(true);
  });

  it('repairs a bridge deleted by hand (and re-enslaves attached runtime ports)', async () => {
    const ns = h.node(0).ns;
    const att = await dps[0].send({ cmd: 'attach', ifname: c[0].hostIf, network: 'net-a' });
    expect(att.ops).toEqual([]);
    sh('ip', ['link', 'del', 'frb-100'], { ns });
    const repaired = await until(() => {
      const l = sh('ip', ['-o', 'link', 'show'], { ns });
      return (
        /frx-100.*master frb-100/.test(l) &&
        new RegExp(`${c[0].hostIf}.*master frb-100`).test(l) &&
        sh('ip', ['neigh', 'show', 'dev', 'frb-100'], { ns, allowFail: true }).includes('10.0.0.11')
      );
    }, 2500);
    expect(repaired).toBe(true);
    expect(h.ping(c[0], '10.0.0.11')).toBe(true);
    const m = (await dps[0].send({ cmd: 'metrics' })).text as string;
    expect(Number(/freight_dataplane_repairs_total\{node="node0"\} (\d+)/.exec(m)?.[1])).toBeGreaterThan(0);
    expect(dps[0].logs().some((l) => l.msg === 'repaired drift')).toBe(true);
  });
});
