/**
 * Guest suite: for each network type, containers on different nodes reach each
 * other through the tunnel devices, FDB and ESP states of the dataplane; for
 * ipsec the underlay carries only ESP and the inbound SA is what lets traffic in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../support/netns.js';
import { Batch, NsSet } from './lib/ns.js';
import { delSa, installPlain, pairKeys, testSpi, type NetType } from './lib/plain.js';
import { capture, pingOnce, pingWorks, xfrmStates } from './lib/probes.js';
import { addContainer, makeUnderlay, type Container, type Node } from './lib/topo.js';

const CASES: Array<{ type: NetType; nodes: number; mtu: number }> = [
  { type: 'vxlan', nodes: 3, mtu: 1450 },
  { type: 'geneve', nodes: 2, mtu: 1450 },
  { type: 'ipsec', nodes: 3, mtu: 1400 },
];

describe.each(CASES)('$type network across $nodes nodes', ({ type, nodes: count, mtu }) => {
  const nss = new NsSet();
  let nodes: Node[];
  let cs: Container[];
  const vni = 100 + CASES.findIndex((c) => c.type === type);

  beforeAll(() => {
    const b = new Batch();
    nodes = makeUnderlay(b, nss, count);
    cs = nodes.map((n, i) => addContainer(b, nss, n, `${vni}${i + 1}`, `10.77.0.${11 + i}`, `02:00:00:77:00:${11 + i}`, mtu));
    installPlain(b, { type, vni, containers: cs });
    if (type === 'ipsec') {
      for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) pairKeys(b, nodes[i], nodes[j], 1);
    }
    b.flush();
  });
  afterAll(() => nss.cleanup());

  it('containers on different nodes ping each other', () => {
    for (const to of cs.slice(1)) expect(pingWorks(cs[0].ns, to.ip), `${cs[0].ip} -> ${to.ip}`).toBe(true);
    expect(pingWorks(cs[cs.length - 1].ns, cs[0].ip)).toBe(true);
  });

  if (type !== 'geneve') {
    it('forwards by static FDB entries to the right VTEP, learning off', () => {
      const fdb = sh('bridge', ['fdb', 'show', 'dev', `frx-${vni}`], { ns: nodes[0].ns });
      for (const c of cs.slice(1)) expect(fdb).toContain(`${c.mac} dst ${c.node.ip} self permanent`);
      expect(fdb).toContain(`00:00:00:00:00:00 dst ${nodes[1].ip} self permanent`);
    });
  }

  if (type === 'ipsec') {
    it('ipsec: ESP counters rise and the underlay carries only ESP', async () => {
      const [n1, n2] = nodes;
      const spi = testSpi(n1, n2, 1);
      const before = xfrmStates(n1.ns).find((s) => s.spi === spi)?.packets ?? -1;
      const cap = await capture(n1.ns, n1.ul, ['host', n2.ip]);
      expect(pingWorks(cs[0].ns, cs[1].ip, 5)).toBe(true);
      const lines = (await cap.stop()).split('\n').filter(Boolean);
      const out = xfrmStates(n1.ns).find((s) => s.spi === spi);
      const inb = xfrmStates(n2.ns).find((s) => s.spi === spi);
      expect(out!.packets).toBeGreaterThanOrEqual(before + 5);
      expect(inb!.packets).toBeGreaterThanOrEqual(5);
      expect(lines.filter((l) => /ESP\(spi=/.test(l)).length).toBeGreaterThanOrEqual(10);
      expect(lines.filter((l) => /\.4789[: ]|VXLAN|UDP/.test(l))).toEqual([]);
    });

    it('ipsec: removing the inbound SA stops the traffic', () => {
      const [n1, n2] = nodes;
      expect(pingWorks(cs[0].ns, cs[1].ip)).toBe(true);
      const b = new Batch();
      delSa(b, n2, n1, n2, 1);
      b.flush();
      expect(pingOnce(cs[0].ns, cs[1].ip)).toBe(false);
      expect(pingOnce(cs[0].ns, cs[1].ip)).toBe(false);
      // the pair node1-node3 keeps its SAs
      expect(pingWorks(cs[0].ns, cs[2].ip)).toBe(true);
    });
  }
});
