/**
 * Guest suite: key rotation on an ipsec network under a continuous 10/s ping,
 * driven only by NodeView.keys changes fed to each node's dataplane driver:
 * new inbound SAs on both sides → outbound switched (old retiring) → old removed.
 * Not one packet may be lost and no old SA may remain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoint, Harness, network, viewsFor, type ContainerNs } from '../netns/harness.js';
import { startDrivers, type Driver } from './lib/driver.js';
import type { NodeView, ViewKey } from '../../protocol/view.js';
import { keysFor, spiOf, withKeys } from './lib/keys.js';
import { pingContinuous, pingWorks, xfrmStates } from './lib/probes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ipsec key rotation during a continuous ping', () => {
  let h: Harness;
  let dps: Driver[];
  let base: NodeView[];
  let cs: ContainerNs[];
  const net = network({ id: 'net-rot', vni: 104, type: 'ipsec', mtu: 1410, cidr: '10.78.0.0/24' });
  const idx = [0, 1];
  const eps = idx.map((i) => endpoint(`r${i}`, net.id, i, `02:00:00:78:00:1${i}`, `10.78.0.1${i}`));
  let rev = 1;

  /** feeds each node its keys (per-node list from `keys(i)`), both nodes, in order */
  async function step(keys: (i: number) => ViewKey[]): Promise<void> {
    rev++;
    for (const i of idx) {
      const r = await dps[i].apply(withKeys(base[i], keys(i), rev));
      expect(r.errors).toEqual([]);
    }
  }
  /** SPIs of node i's SAs: outbound (src = node i) and inbound */
  function spis(i: number): { out: number[]; in: number[] } {
    const me = h.node(i).underlayIp;
    const st = xfrmStates(h.node(i).ns);
    return {
      out: st
        .filter((s) => s.src === me)
        .map((s) => s.spi)
        .sort((a, b) => a - b),
      in: st
        .filter((s) => s.dst === me)
        .map((s) => s.spi)
        .sort((a, b) => a - b),
    };
  }

  beforeAll(async () => {
    h = await Harness.create({ nodes: 2 });
    dps = await startDrivers(idx.map((i) => h.node(i)));
    base = viewsFor(h, [net], eps);
    await step((i) => keysFor(h, net.id, i, idx, 1, 'active'));
    cs = eps.map((e) => h.addContainerNs(e.nodeIndex, { mac: e.mac, ip: `${e.ip}/24`, bridge: 'frb-104', mtu: 1410 }));
    expect(pingWorks(cs[0].ns, cs[1].ip)).toBe(true);
  });
  afterAll(async () => {
    await Promise.all((dps ?? []).map((d) => d.kill()));
    h?.cleanup();
  });

  it('rotates inbound → active/retiring → removed with 0 packets lost', async () => {
    const ping = pingContinuous(cs[0].ns, cs[1].ip, 10);
    await sleep(1000);
    const g1 = (i: number, phase: ViewKey['phase']) => keysFor(h, net.id, i, idx, 1, phase);
    const g2 = (i: number, phase: ViewKey['phase']) => keysFor(h, net.id, i, idx, 2, phase);

    await step((i) => [...g1(i, 'active'), ...g2(i, 'inbound')]);
    expect(spis(0)).toEqual({ out: [spiOf(0, 1, 1)], in: [spiOf(1, 0, 1), spiOf(1, 0, 2)] });
    expect(spis(1)).toEqual({ out: [spiOf(1, 0, 1)], in: [spiOf(0, 1, 1), spiOf(0, 1, 2)] });
    await sleep(1000);

    await step((i) => [...g1(i, 'retiring'), ...g2(i, 'active')]);
    expect(spis(0)).toEqual({ out: [spiOf(0, 1, 2)], in: [spiOf(1, 0, 1), spiOf(1, 0, 2)] });
    expect(spis(1)).toEqual({ out: [spiOf(1, 0, 2)], in: [spiOf(0, 1, 1), spiOf(0, 1, 2)] });
    await sleep(1000);

    await step((i) => g2(i, 'active'));
    expect(spis(0)).toEqual({ out: [spiOf(0, 1, 2)], in: [spiOf(1, 0, 2)] });
    expect(spis(1)).toEqual({ out: [spiOf(1, 0, 2)], in: [spiOf(0, 1, 2)] });
    await sleep(1000);

    const r = await ping.stop();
    expect(r.sent).toBeGreaterThanOrEqual(30);
    expect(r.lost, r.output.split('\n').slice(-4).join('\n')).toEqual([]);
    // the new SAs carried the traffic at the end
    const out2 = xfrmStates(h.node(0).ns).find((s) => s.spi === spiOf(0, 1, 2));
    expect(out2?.packets).toBeGreaterThan(0);
  });
});
