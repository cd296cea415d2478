/**
 * Guest suite (real Debian kernel): for each network type, "container"
 * namespaces on different nodes ping each other through what the agent's
 * dataplane (node-agent/dataplane, one driver per node namespace) installs from
 * a NodeView; for ipsec the underlay carries only ESP and the inbound SA is what
 * lets traffic in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkType } from '../../protocol/common.js';
import { sh } from '../support/netns.js';
import { geneveName } from '../../node-agent/names.js';
import { endpoint, Harness, network, viewsFor, type ContainerNs } from '../netns/harness.js';
import { startDrivers, type Driver } from './lib/driver.js';
import { keysFor, spiOf, withKeys } from './lib/keys.js';
import { capture, pingOnce, pingWorks, xfrmStates } from './lib/probes.js';

/** One line per finding in the suite's output (CI logs): network type first. */
function report(type: string, text: string): void {
  process.stdout.write(`[kernel-suite] ${type}: ${text}\n`);
}

const CASES: Array<{ type: NetworkType; nodes: number; mtu: number; vni: number }> = [
  { type: 'vxlan', nodes: 3, mtu: 1450, vni: 101 },
  { type: 'geneve', nodes: 3, mtu: 1450, vni: 102 },
  { type: 'ipsec', nodes: 3, mtu: 1410, vni: 103 },
];

describe.each(CASES)('$type network across $nodes nodes, agent-built', ({ type, nodes: count, mtu, vni }) => {
  let h: Harness;
  let dps: Driver[];
  let cs: ContainerNs[];
  const net = network({ id: `net-${type}`, vni, type, mtu, cidr: '10.77.0.0/24' });
  const idx = [...Array(count).keys()];
  const eps = idx.map((i) => endpoint(`c${i}`, net.id, i, `02:00:00:77:00:1${i}`, `10.77.0.1${i}`));

  beforeAll(async () => {
    h = await Harness.create({ nodes: count });
    // audits only on request: the tests below change kernel state behind the agent's back
    dps = await startDrivers(idx.map((i) => h.node(i)));
    const views = viewsFor(h, [net], eps).map((v, i) => (type === 'ipsec' ? withKeys(v, keysFor(h, net.id, i, idx, 1, 'active'), 1) : v));
    const results = await Promise.all(dps.map((d, i) => d.apply(views[i])));
    for (const r of results) expect(r).toMatchObject({ type: 'result', errors: [], networkErrors: [] });
    cs = eps.map((e) => h.addContainerNs(e.nodeIndex, { mac: e.mac, ip: `${e.ip}/24`, bridge: `frb-${vni}`, mtu }));
  });
  afterAll(async () => {
    await Promise.all((dps ?? []).map((d) => d.kill()));
    h?.cleanup();
  });

  it('containers on different nodes ping each other', () => {
    const results = [...cs.slice(1).map((to) => [cs[0], to]), [cs[count - 1], cs[0]]].map(([a, b]) => {
      const ok = pingWorks(a.ns, b.ip);
      return { ok, line: `${a.ip} (node${a.node}) -> ${b.ip} (node${b.node}): ${ok ? 'ok' : 'FAILED'}` };
    });
    report(type, `ping ${results.map((r) => r.line).join('; ')}`);
    for (const r of results) expect(r.ok, r.line).toBe(true);
  });

  it("the tunnel device, FDB and neighbour entries are the agent's", () => {
    const ns = h.node(0).ns;
    // geneve: one isolated port per peer (no per-destination FDB in geneve); this is node0's port to node1
    const dev = type === 'geneve' ? geneveName(vni, h.node(1).underlayIp) : `frx-${vni}`;
    const link = sh('ip', ['-d', 'link', 'show', dev], { ns });
    expect(link).toMatch(
      new RegExp(
        `${type === 'geneve' ? 'geneve' : 'vxlan'} id ${vni} .*master frb-${vni}|master frb-${vni}.*${type === 'geneve' ? 'geneve' : 'vxlan'} id ${vni}`,
        's',
      ),
    );
    expect(sh('ip', ['neigh', 'show', 'dev', `frb-${vni}`], { ns })).toContain(`10.77.0.11 lladdr 02:00:00:77:00:11 PERMANENT`);
    if (type !== 'geneve') {
      const fdb = sh('bridge', ['fdb', 'show', 'dev', dev], { ns });
      for (const c of cs.slice(1)) expect(fdb).toContain(`${c.mac} dst ${h.node(c.node).underlayIp} self permanent`);
    }
  });

  if (type === 'ipsec') {
    it('ESP counters rise and the underlay carries only ESP', async () => {
      const [n0, n1] = [h.node(0), h.node(1)];
      const spi = spiOf(0, 1, 1);
      const before = xfrmStates(n0.ns).find((s) => s.spi === spi)?.packets ?? -1;
      const cap = await capture(n0.ns, 'ul0', ['host', n1.underlayIp]);
      expect(pingWorks(cs[0].ns, cs[1].ip, 5)).toBe(true);
      const lines = (await cap.stop()).split('\n').filter(Boolean);
      const enc = xfrmStates(n0.ns).find((s) => s.spi === spi)?.packets ?? 0;
      const dec = xfrmStates(n1.ns).find((s) => s.spi === spi)?.packets ?? 0;
      const protos = new Map<string, number>();
      for (const l of lines) {
        const p = /ESP\(spi=/.test(l) ? 'ESP' : /UDP|\.4789[: ]|VXLAN/.test(l) ? 'UDP (plaintext tunnel)' : 'other';
        protos.set(p, (protos.get(p) ?? 0) + 1);
      }
      report(
        type,
        `ESP SA spi 0x${spi.toString(16)}: node0 encrypted ${enc - Math.max(before, 0)} packets during the ping, node1 decrypted ${dec} in all`,
      );
      report(type, `capture on node0's underlay: ${[...protos].map(([p, n]) => `${p} ${n}`).join(', ') || 'nothing'}`);
      expect(enc).toBeGreaterThanOrEqual(before + 5);
      expect(dec).toBeGreaterThanOrEqual(5);
      expect(lines.filter((l) => /ESP\(spi=/.test(l)).length).toBeGreaterThanOrEqual(10);
      expect(lines.filter((l) => /\.4789[: ]|VXLAN|UDP/.test(l))).toEqual([]);
    });

    it("removing the inbound SA stops the traffic; the agent's audit restores it", async () => {
      const [n0, n1] = [h.node(0), h.node(1)];
      expect(pingWorks(cs[0].ns, cs[1].ip)).toBe(true);
      sh('ip', ['xfrm', 'state', 'delete', 'src', n0.underlayIp, 'dst', n1.underlayIp, 'proto', 'esp', 'spi', String(spiOf(0, 1, 1))], {
        ns: n1.ns,
      });
      expect(pingOnce(cs[0].ns, cs[1].ip)).toBe(false);
      expect(pingOnce(cs[0].ns, cs[1].ip)).toBe(false);
      expect(pingWorks(cs[0].ns, cs[2].ip)).toBe(true); // the pair node0-node2 keeps its SAs
      const r = await dps[1].send({ cmd: 'audit' });
      expect(r, JSON.stringify(r)).toMatchObject({ type: 'result', errors: [] });
      expect(r.ops as string[]).not.toEqual([]);
      expect(pingWorks(cs[0].ns, cs[1].ip)).toBe(true);
    });
  }
});
