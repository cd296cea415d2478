/**
 * Guest suite (real Debian kernel, 802.1Q): VLAN provider networks built by the agent's
 * dataplane (one driver per node namespace, mapping `datacenter=eth1`). Two networks on one
 * physical network, VLAN 100 and VLAN 200, all in one address range so that only layer 2
 * separates them; a "datacenter switch" namespace with bare-metal servers untagged, on VLAN 100
 * and on VLAN 200. tcpdump on the switch shows the 802.1Q tags; a VLAN 100 container reaches the
 * VLAN 100 server and the VLAN 100 container on the other node, never VLAN 200 nor the untagged
 * server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViewNetwork } from '../../protocol/view.js';
import { physicalBridgeName, vlanName } from '../../node-agent/names.js';
import { sh } from '../support/netns.js';
import { endpoint, Harness, network, viewsFor, type ContainerNs } from '../netns/harness.js';
import { addSwitch, mappingArgs, type Segment, type Switch } from '../netns/switch.js';
import { startDrivers, type Driver } from './lib/driver.js';
import { capture, pingOnce, pingWorks } from './lib/probes.js';

function report(text: string): void {
  process.stdout.write(`[kernel-suite] vlan: ${text}\n`);
}

const SEGMENTS: Segment[] = [
  {
    name: 'datacenter',
    servers: [{ address: '10.50.0.5/24' }, { address: '10.50.0.6/24', vlan: 100 }, { address: '10.50.0.7/24', vlan: 200 }],
  },
];
const UNTAGGED_SERVER = '10.50.0.5';
const SERVER_100 = '10.50.0.6';
const SERVER_200 = '10.50.0.7';

const vlanNet = (id: string, vlan: number): ViewNetwork => ({
  ...network({ id, vni: 1, cidr: '10.50.0.0/24', mtu: 1500 }),
  type: 'physical',
  vni: null,
  params: { type: 'physical', physicalNetwork: 'datacenter', vlan },
});

describe('VLAN 100 and 200 on one physical network, agent-built', () => {
  let h: Harness;
  let sw: Switch;
  let dps: Driver[];
  let cs: ContainerNs[];
  const nets = [vlanNet('v100', 100), vlanNet('v200', 200)];
  // a100 on node0, b100 on node1 (VLAN 100); c200 on node0 (VLAN 200)
  const eps = [
    endpoint('a100', 'v100', 0, '02:00:00:50:00:10', '10.50.0.10'),
    endpoint('b100', 'v100', 1, '02:00:00:50:00:11', '10.50.0.11'),
    endpoint('c200', 'v200', 0, '02:00:00:50:00:20', '10.50.0.20'),
  ];

  beforeAll(async () => {
    h = await Harness.create({ nodes: 2 });
    sw = addSwitch(h, SEGMENTS);
    report('switch and bare-metal servers up');
    dps = await startDrivers([h.node(0), h.node(1)], mappingArgs(SEGMENTS));
    const ready = (await dps[0].ready) as { capabilities: { vlan: boolean; details: Record<string, string> } };
    report(`capability vlan: ${ready.capabilities.vlan} ${ready.capabilities.details.vlan ?? ''}`);
    const views = viewsFor(h, nets, eps);
    const results = await Promise.all(dps.map((d, i) => d.apply(views[i])));
    report(`applied: ${JSON.stringify(results.map((r) => r.ops))}`);
    for (const r of results) expect(r).toMatchObject({ type: 'result', errors: [], networkErrors: [] });
    cs = eps.map((e) =>
      h.addContainerNs(e.nodeIndex, {
        mac: e.mac,
        ip: `${e.ip}/24`,
        bridge: physicalBridgeName('datacenter', e.network === 'v100' ? 100 : 200),
      }),
    );
  }, 420_000);
  afterAll(async () => {
    await Promise.all((dps ?? []).map((d) => d.kill()));
    h?.cleanup();
  });

  it("the agent made a bridge per VLAN with the mapped interface's 802.1Q sub-interface as its uplink", () => {
    const ns = h.node(0).ns;
    for (const vlan of [100, 200]) {
      const link = sh('ip', ['-d', 'link', 'show', vlanName('datacenter', vlan)], { ns });
      expect(link).toMatch(new RegExp(`@eth1:.*master ${physicalBridgeName('datacenter', vlan)}`, 's'));
      expect(link).toMatch(new RegExp(`vlan protocol 802.1Q id ${vlan}`));
    }
    // eth1 itself is in no bridge: no flat network on datacenter
    expect(sh('ip', ['-d', 'link', 'show', 'eth1'], { ns })).not.toMatch(/master/);
  });

  it('VLAN 100 reaches its bare-metal server and the VLAN 100 container on the other node; the switch sees tag 100', async () => {
    const cap = await capture(sw.ns, sw.port(0, 0), ['-e', 'vlan']);
    const toServer = pingWorks(cs[0].ns, SERVER_100);
    const toPeer = pingWorks(cs[0].ns, cs[1].ip);
    const toServer200 = pingWorks(cs[2].ns, SERVER_200);
    const lines = (await cap.stop()).split('\n').filter(Boolean);
    const tags = [...new Set(lines.map((l) => /vlan (\d+)/.exec(l)?.[1]).filter(Boolean))].sort();
    report(`a100 -> server on VLAN 100: ${toServer}; a100 -> b100 (node1): ${toPeer}; c200 -> server on VLAN 200: ${toServer200}`);
    report(`802.1Q tags on node0's switch port: ${tags.join(', ') || 'none'} (${lines.length} tagged frames)`);
    expect(toServer).toBe(true);
    expect(toPeer).toBe(true);
    expect(toServer200).toBe(true);
    expect(tags).toEqual(['100', '200']);
    expect(lines.some((l) => /vlan 100, p 0, ethertype IPv4.*10\.50\.0\.10 > 10\.50\.0\.6/.test(l))).toBe(true);
  });

  it('isolation: VLAN 100 never reaches VLAN 200 nor the untagged server (one address range, only layer 2 between them)', () => {
    const results = {
      'a100 -> c200 (VLAN 200, same node)': pingOnce(cs[0].ns, cs[2].ip),
      'b100 -> c200 (VLAN 200, other node)': pingOnce(cs[1].ns, cs[2].ip),
      'a100 -> server on VLAN 200': pingOnce(cs[0].ns, SERVER_200),
      'a100 -> untagged server': pingOnce(cs[0].ns, UNTAGGED_SERVER),
      'c200 -> server on VLAN 100': pingOnce(cs[2].ns, SERVER_100),
    };
    report(
      `isolation: ${Object.entries(results)
        .map(([k, v]) => `${k}: ${v ? 'REACHED' : 'blocked'}`)
        .join('; ')}`,
    );
    for (const [k, v] of Object.entries(results)) expect(v, k).toBe(false);
    // positive control in the same run: VLAN 100 still works
    expect(pingWorks(cs[0].ns, SERVER_100)).toBe(true);
  });
});
