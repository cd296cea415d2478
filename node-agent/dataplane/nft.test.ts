import { describe, expect, it } from 'vitest';
import type { NodeView } from '../../protocol/view.js';
import type { NftTable } from '../kernel/nft.js';
import { desiredState } from './desired.js';
import { execute } from './executor.js';
import { parseTable, planNft, planTable, replaceCommands } from './nft-table.js';
import type { Op } from './ops.js';
import { plan } from './planner.js';
import { emptyState, type NodeFacts } from './types.js';
import { testCaps } from '../../test/support/caps.js';

const facts: NodeFacts = {
  node: 'n1',
  underlayIp: '198.18.0.1',
  underlayMtu: 1500,
  capabilities: testCaps(),
};

const ep = (id: string, over: Partial<NodeView['endpoints'][string]>): NodeView['endpoints'][string] => ({
  id,
  network: 'a',
  kind: 'container',
  owner: `${id}0000000-0000`,
  name: id,
  mac: '02:00:00:00:00:01',
  ip: '10.0.0.5',
  node: 'n1',
  vtep: '198.18.0.1',
  ifindex: 0,
  ...over,
});

function view(over: Partial<NodeView> = {}): NodeView {
  return {
    node: 'n1',
    underlayIp: '198.18.0.1',
    revision: 1,
    containers: {},
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
        flood: ['198.18.0.2'],
      },
    },
    endpoints: {
      c1: ep('c1', { owner: 'aaaaaaaa-1111', mac: '02:00:00:00:00:01', ip: '10.0.0.5' }),
      inf: ep('inf', { kind: 'infra', owner: 'bbbbbbbb-2222', mac: '02:00:00:00:00:fe', ip: '10.0.0.254' }),
      remote: ep('remote', { owner: 'cccccccc-3333', mac: '02:00:00:00:00:09', ip: '10.0.0.9', node: 'n2', vtep: '198.18.0.2' }),
    },
    ...over,
  };
}

/** What `nft -j list` gives back for a table we applied: same structure, counters at zero. */
function listed(t: NftTable): NftTable {
  const objs = replaceCommands(t)
    .slice(3)
    .map((c) => {
      const [kind, body] = Object.entries((c as { add: Record<string, Record<string, unknown>> }).add)[0];
      if (kind === 'counter') return { counter: { ...body, packets: 7, bytes: 700 } };
      if (kind === 'element') return { element: body };
      return { [kind]: body };
    });
  const sets = t.sets.map((s) => ({
    set: {
      family: t.family,
      table: 'freight',
      name: s.name,
      type: s.type,
      elem: s.elems.map((e) => (e.includes(' . ') ? { concat: e.split(' . ') } : e)),
    },
  }));
  return parseTable(t.family, [
    { table: { family: t.family, name: 'freight' } },
    ...objs.filter((o) => !('set' in o) && !('element' in o)),
    ...sets,
  ])!;
}

describe('anti-spoofing table (desired)', () => {
  it('holds one element per local port, keyed by the runtime veth name, and the infra port as the only DHCP server', () => {
    const t = desiredState(view(), facts).nft.get('bridge')!;
    const sets = Object.fromEntries(t.sets.map((s) => [s.name, s.elems]));
    expect(sets.port_mac).toEqual(['frh-aaaaaaaa0 . 02:00:00:00:00:01', 'frh-bbbbbbbb0 . 02:00:00:00:00:fe']);
    expect(sets.port_ip).toEqual(['frh-aaaaaaaa0 . 10.0.0.5', 'frh-bbbbbbbb0 . 10.0.0.254']);
    expect(sets.dhcp_servers).toEqual(['frh-bbbbbbbb0']);
  });

  it('keeps the rule count fixed whatever the number of containers', () => {
    const many = view();
    for (let i = 0; i < 50; i++) many.endpoints[`x${i}`] = ep(`x${i}`, { owner: `d${String(i).padStart(7, '0')}-x`, ip: `10.0.1.${i}` });
    const few = desiredState(view(), facts).nft.get('bridge')!;
    const lots = desiredState(many, facts).nft.get('bridge')!;
    expect(lots.rules.length).toBe(few.rules.length);
    expect(lots.sets.find((x) => x.name === 'port_mac')!.elems.length).toBe(52);
  });

  it('a node without local ports has no bridge table; without nft every local network reports why', () => {
    expect(desiredState(view({ endpoints: {} }), facts).nft.size).toBe(0);
    const noNft = { ...facts, capabilities: { ...facts.capabilities, nft: false, details: { nft: 'nft: spawnSync nft ENOENT' } } };
    const d = desiredState(view(), noNft);
    expect(d.nft.size).toBe(0);
    expect(d.networkErrors).toEqual([{ network: 'a', message: 'anti-spoofing off on node n1: nft: spawnSync nft ENOENT' }]);
    expect(d.links.has('frx-100')).toBe(true); // not fatal: the network is still carried
  });
});

describe('ipsec guard table (desired)', () => {
  it('guards the VNIs of ipsec networks against their peers, even when the kernel cannot carry them', () => {
    const v = view();
    v.networks.s = { ...v.networks.a, id: 's', type: 'ipsec', vni: 300, flood: ['198.18.0.3', '198.18.0.1'] };
    const d = desiredState(v, facts);
    expect(d.networkErrors.map((e) => e.network)).toEqual(['s']); // no ESP here
    const t = d.nft.get('inet')!;
    expect(t.sets).toEqual([{ name: 'ipsec_peers', type: 'ipv4_addr', elems: ['198.18.0.3'] }]);
    expect(t.rules.map((r) => r.comment)).toEqual(['fr1 ipsec-in vni 300', 'fr1 ipsec-out vni 300']);
    expect(desiredState(view(), facts).nft.has('inet')).toBe(false);
  });
});

describe('planNft', () => {
  const d = () => desiredState(view(), facts).nft;

  it('creates a missing table in one replacement and plans nothing once it is there', () => {
    const ops = planNft(d(), new Map());
    expect(ops.map((o) => [o.family, o.mode, o.reason])).toEqual([['bridge', 'replace', 'missing']]);
    expect(planNft(d(), new Map([['bridge', listed(d().get('bridge')!)]]))).toEqual([]);
  });

  it('a new container adds elements only (counters keep counting); a removed one deletes its elements', () => {
    const actual = new Map([['bridge' as const, listed(d().get('bridge')!)]]);
    const v = view();
    v.endpoints.c2 = ep('c2', { owner: 'eeeeeeee-4444', mac: '02:00:00:00:00:02', ip: '10.0.0.6' });
    delete v.endpoints.c1;
    const [op] = planNft(desiredState(v, facts).nft, actual);
    expect(op.mode).toBe('elements');
    expect(op.summary).toBe('update table bridge freight: ports +1 -1, port_mac +1 -1, port_ip +1 -1');
    expect(op.commands.slice(2)).toEqual([
      {
        delete: {
          element: { family: 'bridge', table: 'freight', name: 'port_mac', elem: [{ concat: ['frh-aaaaaaaa0', '02:00:00:00:00:01'] }] },
        },
      },
      {
        add: {
          element: { family: 'bridge', table: 'freight', name: 'port_mac', elem: [{ concat: ['frh-eeeeeeee0', '02:00:00:00:00:02'] }] },
        },
      },
      { delete: { element: { family: 'bridge', table: 'freight', name: 'port_ip', elem: [{ concat: ['frh-aaaaaaaa0', '10.0.0.5'] }] } } },
      { add: { element: { family: 'bridge', table: 'freight', name: 'port_ip', elem: [{ concat: ['frh-eeeeeeee0', '10.0.0.6'] }] } } },
    ]);
  });

  it('a rule removed by hand replaces the whole table, carrying the counters over', () => {
    const a = listed(d().get('bridge')!);
    a.rules = a.rules.filter((r) => r.comment !== 'fr1 dhcp-server');
    const op = planTable('bridge', d().get('bridge'), a)!;
    expect([op.mode, op.reason]).toEqual(['replace', 'rules drifted']);
    expect(op.commands).toContainEqual({
      add: { counter: { family: 'bridge', table: 'freight', name: 'rogue_dhcp', packets: 7, bytes: 700 } },
    });
  });

  it('deletes the table when the last local port goes', () => {
    const ops = plan(desiredState(view({ endpoints: {} }), facts), {
      ...emptyState(),
      nft: new Map([['bridge', listed(d().get('bridge')!)]]),
    });
    expect(ops.filter((o) => o.kind === 'nft.apply')).toEqual([
      {
        kind: 'nft.apply',
        family: 'bridge',
        mode: 'delete',
        commands: [{ delete: { table: { family: 'bridge', name: 'freight' } } }],
        summary: 'delete table bridge freight',
        reason: 'not in view',
      },
    ]);
  });
});

describe('executor: nft ops', () => {
  it('falls back to the full replacement when an element batch fails, and records a failure of both', async () => {
    const [op] = planNft(desiredState(view(), facts).nft, new Map());
    const elements: Op = { ...op, mode: 'elements', commands: [{ add: { element: {} } }], fallback: () => op.commands };
    const seen: unknown[] = [];
    const gws = {
      route: undefined as never,
      nft: (c: () => unknown[]) => {
        seen.push(c());
        if (seen.length === 1) throw new Error('boom');
      },
    };
    expect(await execute([elements], gws, new Map())).toEqual({ applied: 1, errors: [] });
    expect(seen).toEqual([elements.commands, op.commands]);
    const r = await execute(
      [elements],
      {
        route: undefined as never,
        nft: () => {
          throw new Error('no nft');
        },
      },
      new Map(),
    );
    expect(r.errors).toEqual([{ op: `${op.summary} (${op.reason})`, network: undefined, code: 'internal', message: 'no nft' }]);
  });
});
