/**
 * The security-group part of `inet freight` on this kernel, in a namespace the test makes: the
 * planner's table applies, reads back from `nft -j list` as the same structure (an audit plans
 * zero ops), a membership change is one element batch the kernel takes (and then zero ops again),
 * and the drop sets' per-element counters read back; every table the agent writes, rendered as nft
 * text (the agent's fast path), loads to the same listing as its JSON. Traffic is in
 * security-groups.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeView } from '../../protocol/view.js';
import type { NftCommand } from '../../node-agent/kernel/nft.js';
import { parseTable, planTable } from '../../node-agent/dataplane/nft-table.js';
import { desiredState } from '../../node-agent/dataplane/desired.js';
import type { NodeFacts } from '../../node-agent/dataplane/types.js';
import { replaceCommands, elementCommands } from '../../node-agent/dataplane/nft-table.js';
import { nftText, tableText } from '../../node-agent/kernel/nft-text.js';
import { ipsecGuardTable, spoofGuardTable } from '../../node-agent/kernel/nft-rules.js';
import { isRoot, Namespaces, sh, SKIP_REASON, uniqueTag } from '../support/netns.js';
import { viewContainer } from '../support/view.js';
import { testCaps } from '../support/caps.js';

if (!isRoot) console.warn(`security group kernel tests skipped: ${SKIP_REASON}`);

function nftIn(ns: string, cmds: NftCommand[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'frt-nft-'));
  try {
    writeFileSync(join(dir, 'r.json'), JSON.stringify({ nftables: cmds }));
    sh('nft', ['-j', '-f', join(dir, 'r.json')], { ns });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const listIn = (ns: string) => {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 'freight'], { encoding: 'utf8' });
  return parseTable(
    'inet',
    (JSON.parse(r.stdout) as { nftables: NftCommand[] }).nftables.filter((o) => !('metainfo' in o)),
  );
};

const facts: NodeFacts = {
  node: 'n1',
  underlayIp: '198.18.0.1',
  underlayMtu: 1500,
  capabilities: testCaps(),
};
const G = { web: '11111111-1111-1111-1111-111111111111', lb: '22222222-2222-2222-2222-222222222222' };
const ep = (id: string, owner: string, ip: string, node: string, groups?: string[]) => ({
  id,
  network: 'a',
  kind: 'container' as const,
  owner,
  name: id,
  mac: '02:00:00:00:00:01',
  ip,
  node,
  vtep: node === 'n1' ? '198.18.0.1' : '198.18.0.2',
  ifindex: 0,
  ...(groups ? { groups } : {}),
});
function view(): NodeView {
  return {
    node: 'n1',
    underlayIp: '198.18.0.1',
    revision: 1,
    keys: {},
    networks: {
      a: {
        id: 'a',
        tenant: 't',
        name: 'a',
        type: 'vxlan',
        vni: 100,
        cidr: '10.0.0.0/24',
        gateway: null,
        mtu: 1450,
        domain: 'd',
        flood: [],
      },
    },
    containers: {
      'aaaaaaaa-1111': viewContainer('aaaaaaaa-1111', {
        name: 'w',
        publish: [{ proto: 'tcp', hostPort: 8080, port: 80 }],
        securityGroups: [
          {
            id: G.web,
            name: 'web',
            rules: [
              {
                id: 'aaaaaaaa-0000-0000-0000-000000000001',
                direction: 'ingress',
                proto: 'tcp',
                portMin: 80,
                portMax: 90,
                remoteGroup: G.lb,
              },
              { id: 'aaaaaaaa-0000-0000-0000-000000000002', direction: 'ingress', proto: 'icmp', remoteCidr: '10.0.0.0/24' },
              { id: 'aaaaaaaa-0000-0000-0000-000000000003', direction: 'egress', proto: 'udp', portMin: 53 },
              { id: 'aaaaaaaa-0000-0000-0000-000000000004', direction: 'egress', proto: 'any', remoteCidr: '0.0.0.0/0' },
              // a port set: one rule, an anonymous interval set
              {
                id: 'aaaaaaaa-0000-0000-0000-000000000005',
                direction: 'ingress',
                proto: 'udp',
                portMin: 5000,
                portMax: 5000,
                ports: [
                  [5000, 5000],
                  [6000, 6100],
                ],
              },
            ],
          },
        ],
      }),
    },
    endpoints: {
      w: ep('w', 'aaaaaaaa-1111', '10.0.0.5', 'n1', [G.web]),
      l1: ep('l1', 'bbbbbbbb-2222', '10.0.0.7', 'n2', [G.lb]),
      inf: { ...ep('inf', 'cccccccc-3333', '10.0.0.254', 'n2'), kind: 'infra' as const },
    },
  };
}

describe.skipIf(!isRoot)('security group nft on this kernel', () => {
  const nss = new Namespaces();
  let ns: string;
  beforeAll(() => {
    ns = nss.add(`frt-sg-${uniqueTag()}`);
  });
  afterAll(() => nss.cleanup());

  it('applies, reads back as the same structure (zero ops), and takes a membership change as one element batch', () => {
    const want = desiredState(view(), facts).nft.get('inet')!;
    const first = planTable('inet', want, undefined)!;
    nftIn(ns, first.commands);
    expect(planTable('inet', want, listIn(ns))).toBeUndefined();
    const v = view();
    v.endpoints.l2 = ep('l2', 'bbbbbbbb-4444', '10.0.0.8', 'n2', [G.lb]);
    const next = desiredState(v, facts).nft.get('inet')!;
    const op = planTable('inet', next, listIn(ns))!;
    expect([op.mode, op.commands.length]).toEqual(['elements', 1]);
    nftIn(ns, op.commands);
    expect(planTable('inet', next, listIn(ns))).toBeUndefined();
    const drops = listIn(ns)!.sets.find((s) => s.name === 'sg_drop_in')!;
    expect(drops.elemCounters).toEqual({ 'frb-100 . 10.0.0.5': { packets: 0, bytes: 0 } });
  });

  it('renders every table the agent writes as nft text that loads to exactly what its JSON loads', () => {
    const [a, b, c] = [nss.add(`frt-tx-${uniqueTag()}`), nss.add(`frt-tj-${uniqueTag()}`), nss.add(`frt-tb-${uniqueTag()}`)];
    const list = (n: string, family: string) =>
      sh('nft', ['-j', 'list', 'table', family, 'freight'], { ns: n }).replace(/"handle": \d+/g, '"handle": 0');
    const sg = desiredState(view(), facts).nft.get('inet')!;
    const spoof = spoofGuardTable([
      { ifname: 'frh-aaaaaaaa5', mac: '02:00:00:00:00:05', ip: '10.0.0.5', dhcpServer: false },
      { ifname: 'frh-cccccccc9', mac: '02:00:00:00:00:fe', ip: '10.0.0.254', dhcpServer: true },
    ]);
    const ipsec = ipsecGuardTable(['198.18.0.2', '198.18.0.3'], [100, 200]);
    for (const t of [sg, spoof, ipsec]) {
      const carry = { [t.counters[0] ?? 'none']: { packets: 7, bytes: 700 } };
      const cmds = replaceCommands(t, carry);
      const text = nftText(cmds);
      expect(text, `${t.family} table renders`).toBeDefined();
      sh('nft', ['-f', '-'], { ns: a, input: text });
      nftIn(b, cmds);
      expect(list(a, t.family)).toEqual(list(b, t.family));
      // the replacement in block syntax (what the planner hands the executor for a replace)
      const block = tableText(t, carry);
      expect(block, `${t.family} table renders as a block`).toBeDefined();
      sh('nft', ['-f', '-'], { ns: c, input: block });
      expect(list(c, t.family)).toEqual(list(b, t.family));
      // an element batch (a membership change) renders and loads the same way too
      const set = t.sets.find((s) => Array.isArray(s.type)) ?? t.sets[0];
      const extra = Array.isArray(set.type)
        ? set.type.map((x) => (x === 'ifname' ? 'frb-999' : x === 'ether_addr' ? '02:00:00:00:00:99' : '10.0.9.9')).join(' . ')
        : '10.0.9.9';
      const batch = [...elementCommands('add', t, set.name, [extra]), ...elementCommands('delete', t, set.name, set.elems.slice(0, 1))];
      sh('nft', ['-f', '-'], { ns: a, input: nftText(batch) });
      nftIn(b, batch);
      expect(list(a, t.family)).toEqual(list(b, t.family));
    }
  });
});
