import { describe, expect, it } from 'vitest';
import type { NodeView, ViewContainer, ViewSecurityGroup } from '../../protocol/view.js';
import type { NftTable } from '../kernel/nft.js';
import { desiredState } from './desired.js';
import { parseTable, planNft, replaceCommands } from './nft-table.js';
import type { NodeFacts } from './types.js';
import { viewContainer } from '../../test/support/view.js';
import { nftText, ruleLine, tableText } from '../kernel/nft-text.js';
import { testCaps } from '../../test/support/caps.js';

const facts: NodeFacts = {
  node: 'n1',
  underlayIp: '198.18.0.1',
  underlayMtu: 1500,
  capabilities: testCaps(),
};
const G = { web: '11111111-1111-1111-1111-111111111111', lb: '22222222-2222-2222-2222-222222222222' };
const web: ViewSecurityGroup = {
  id: G.web,
  name: 'web',
  rules: [
    { id: 'aaaaaaaa-0000-0000-0000-000000000001', direction: 'ingress', proto: 'tcp', portMin: 80, portMax: 90, remoteGroup: G.lb },
    { id: 'aaaaaaaa-0000-0000-0000-000000000002', direction: 'ingress', proto: 'icmp', remoteCidr: '10.0.0.0/24' },
    { id: 'aaaaaaaa-0000-0000-0000-000000000003', direction: 'egress', proto: 'any' },
  ],
};
const ct = (id: string, groups: ViewSecurityGroup[] | undefined): ViewContainer =>
  viewContainer(id, { name: id.slice(0, 4), ...(groups ? { securityGroups: groups } : {}) });
const ep = (id: string, owner: string, ip: string, node: string, groups?: string[]): NodeView['endpoints'][string] => ({
  id,
  network: 'a',
  kind: 'container',
  owner,
  name: id,
  mac: `02:00:00:00:00:${ip.split('.')[3].padStart(2, '0')}`,
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
    containers: { 'aaaaaaaa-1111': ct('aaaaaaaa-1111', [web]) },
    endpoints: {
      w: ep('w', 'aaaaaaaa-1111', '10.0.0.5', 'n1', [G.web]),
      l1: ep('l1', 'bbbbbbbb-2222', '10.0.0.7', 'n2', [G.lb]),
      inf: { ...ep('inf', 'cccccccc-3333', '10.0.0.254', 'n2'), kind: 'infra' },
    },
  };
}

/** What `nft -j list` gives back for an applied table (the real listing is checked in test/netns/sg-kernel.test.ts). */
function listed(t: NftTable): NftTable {
  const objs = replaceCommands(t)
    .slice(3)
    .filter((c) => !('element' in (c as { add: object }).add))
    .map((c) => {
      const [kind, body] = Object.entries((c as { add: Record<string, Record<string, unknown>> }).add)[0];
      if (kind !== 'set') return { [kind]: body };
      const s = t.sets.find((x) => x.name === body.name)!;
      return { set: { ...body, elem: s.elems.map((e) => (e.includes(' . ') ? { concat: e.split(' . ') } : e)) } };
    });
  return parseTable(t.family, [{ table: { family: t.family, name: 'freight' } }, ...objs])!;
}
const inet = (v: NodeView) => desiredState(v, facts).nft.get('inet')!;
const set = (t: NftTable, name: string) => t.sets.find((s) => s.name === name)!.elems;

describe('security groups: desired nft', () => {
  it('guards local ports by bridge and address, with one nft rule per group rule and the remote group as a set', () => {
    const t = inet(view());
    expect(set(t, 'sg_local')).toEqual(['frb-100 . 10.0.0.5']);
    expect(set(t, 'sg_infra')).toEqual(['frb-100 . 10.0.0.254']);
    expect(set(t, `m_${G.web.replace(/-/g, '')}`)).toEqual(['frb-100 . 10.0.0.5']);
    expect(set(t, `r_${G.lb.replace(/-/g, '')}`)).toEqual(['frb-100 . 10.0.0.7']);
    expect(
      t.rules
        .filter((r) => r.comment.startsWith('sg1 rule '))
        .map((r) => r.comment)
        .sort(),
    ).toEqual(web.rules.map((r) => `sg1 rule ${r.id}`));
  });

  it('a rule with a port set is one nft rule matching an anonymous set, in JSON and in text', () => {
    const id = 'aaaaaaaa-0000-0000-0000-0000000000f0';
    const ports: Array<[number, number]> = [
      [80, 81],
      [443, 443],
      [8000, 8100],
    ];
    const withSet = {
      ...web,
      rules: [...web.rules, { id, direction: 'ingress' as const, proto: 'tcp' as const, portMin: 80, portMax: 81, ports }],
    };
    const v = view();
    v.containers['aaaaaaaa-1111'] = ct('aaaaaaaa-1111', [withSet]);
    const t = inet(v);
    const mine = t.rules.filter((r) => r.comment === `sg1 rule ${id}`);
    expect(mine).toHaveLength(1);
    expect(mine[0].expr).toContainEqual({
      match: {
        op: '==',
        left: { payload: { protocol: 'tcp', field: 'dport' } },
        right: { set: [{ range: [80, 81] }, 443, { range: [8000, 8100] }] },
      },
    });
    expect(nftText(replaceCommands(t))).toContain(`tcp dport { 80-81, 443, 8000-8100 } counter accept comment "sg1 rule ${id}"`);
  });

  it("renders each group rule's text straight from the view exactly as its JSON expression renders, for every kind of rule", () => {
    const rid = (n: number) => `bbbbbbbb-0000-0000-0000-${String(n).padStart(12, '0')}`;
    const kinds: ViewSecurityGroup['rules'] = [];
    for (const direction of ['ingress', 'egress'] as const)
      for (const peer of [{ remoteGroup: G.lb }, { remoteCidr: '10.1.0.0/16' }, { remoteCidr: '0.0.0.0/0' }, {}])
        for (const port of [
          { proto: 'any' as const },
          { proto: 'icmp' as const },
          { proto: 'tcp' as const, portMin: 22, portMax: 22 },
          { proto: 'udp' as const, portMin: 5000, portMax: 5100 },
          {
            proto: 'tcp' as const,
            portMin: 80,
            portMax: 80,
            ports: [
              [80, 80],
              [443, 443],
              [8000, 8100],
            ] as Array<[number, number]>,
          },
        ])
          kinds.push({ id: rid(kinds.length), direction, ...peer, ...port });
    const v = view();
    v.containers['aaaaaaaa-1111'] = ct('aaaaaaaa-1111', [{ ...web, rules: kinds }]);
    const mine = inet(v).rules.filter((r) => r.comment.startsWith('sg1 rule '));
    expect(mine).toHaveLength(kinds.length);
    for (const r of mine) {
      expect(r.text, r.comment).toBeDefined();
      expect(r.text, r.comment).toBe(ruleLine({ expr: r.expr, comment: r.comment }));
    }
    // a value that is not a plain token gets no text: the JSON path decides (and refuses it)
    const odd = { ...kinds[0], id: 'not-a-uuid; flush ruleset' };
    v.containers['aaaaaaaa-1111'] = ct('aaaaaaaa-1111', [{ ...web, rules: [odd] }]);
    const t = inet(v);
    expect(t.rules.find((r) => r.comment.includes('not-a-uuid'))?.text).toBeUndefined();
    expect(tableText(t)).toBeUndefined();
  });

  it('grows with rules, not with members: 200 more members of both groups add elements, no rules', () => {
    const few = inet(view());
    const v = view();
    for (let i = 1; i <= 100; i++) {
      v.endpoints[`lb${i}`] = ep(`lb${i}`, `dddddddd-${i}`, `10.0.1.${i}`, 'n2', [G.lb]);
      v.containers[`eeeeeeee-${i}`] = ct(`eeeeeeee-${i}`, [web]);
      v.endpoints[`w${i}`] = ep(`w${i}`, `eeeeeeee-${i}`, `10.0.2.${i}`, 'n1', [G.web]);
    }
    const many = inet(v);
    expect(many.rules.length).toBe(few.rules.length);
    expect(many.chains.length).toBe(few.chains.length);
    expect(set(many, `r_${G.lb.replace(/-/g, '')}`)).toHaveLength(101);
  });

  it('a container with no security groups in its view item (infra, older controllers) is not guarded; none at all: no sg chains', () => {
    const v = view();
    v.containers['aaaaaaaa-1111'] = ct('aaaaaaaa-1111', undefined);
    expect(desiredState(v, facts).nft.get('inet')).toBeUndefined();
  });

  it('without br_netfilter the networks of guarded containers say why, and no half policy is installed', () => {
    const f = { ...facts, capabilities: { ...facts.capabilities, details: { brNetfilter: 'br_netfilter not loaded' } } };
    const d = desiredState(view(), f);
    expect(d.nft.get('inet')).toBeUndefined();
    expect(d.networkErrors).toEqual([{ network: 'a', message: 'security groups off on node n1: br_netfilter not loaded' }]);
  });
});

describe('security groups: planner', () => {
  it('plans zero ops on identical state', () => {
    const t = inet(view());
    expect(planNft(new Map([['inet', t]]), new Map([['inet', listed(t)]]))).toEqual([]);
  });

  it('plans zero ops for a change that touches no policy (another container restarted, a remote endpoint of no group moved)', () => {
    const actual = new Map([['inet' as const, listed(inet(view()))]]);
    const v = view();
    v.containers['aaaaaaaa-1111'] = { ...v.containers['aaaaaaaa-1111'], generation: 2, limits: { memory: 2 ** 28, cpus: 1, pids: 64 } };
    v.endpoints.x = ep('x', 'ffffffff-9999', '10.0.0.99', 'n2');
    expect(planNft(desiredState(v, facts).nft, actual).filter((o) => o.family === 'inet')).toEqual([]);
  });

  it('a container joining a remote group is one set-element op carrying that one address', () => {
    const actual = new Map([['inet' as const, listed(inet(view()))]]);
    const v = view();
    v.endpoints.l2 = ep('l2', 'bbbbbbbb-4444', '10.0.0.8', 'n2', [G.lb]);
    const ops = planNft(desiredState(v, facts).nft, actual).filter((o) => o.family === 'inet');
    expect(ops.map((o) => [o.mode, o.summary])).toEqual([['elements', `update table inet freight: r_${G.lb.replace(/-/g, '')} +1 -0`]]);
    expect(ops[0].commands).toEqual([
      {
        add: {
          element: { family: 'inet', table: 'freight', name: `r_${G.lb.replace(/-/g, '')}`, elem: [{ concat: ['frb-100', '10.0.0.8'] }] },
        },
      },
    ]);
  });

  it('a container leaving a group is one element delete; a new rule replaces the table', () => {
    const actual = new Map([['inet' as const, listed(inet(view()))]]);
    const v = view();
    delete v.endpoints.l1;
    const [op] = planNft(desiredState(v, facts).nft, actual).filter((o) => o.family === 'inet');
    expect(op.mode).toBe('elements');
    expect(op.commands).toHaveLength(1);
    expect(op.commands[0]).toHaveProperty('delete');
    const r = view();
    r.containers['aaaaaaaa-1111'] = ct('aaaaaaaa-1111', [
      { ...web, rules: [...web.rules, { id: 'aaaaaaaa-0000-0000-0000-000000000009', direction: 'ingress', proto: 'udp', portMin: 53 }] },
    ]);
    expect(
      planNft(desiredState(r, facts).nft, actual)
        .filter((o) => o.family === 'inet')
        .map((o) => o.mode),
    ).toEqual(['replace']);
  });
});
