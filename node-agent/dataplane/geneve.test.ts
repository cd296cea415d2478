import { describe, expect, it } from 'vitest';
import type { NodeView } from '../../protocol/view.js';
import { desiredState } from './desired.js';
import { plan } from './planner.js';
import { geneveName, isOwnedLink } from '../names.js';
import { emptyState, type KernelState, type NodeFacts } from './types.js';
import { testCaps } from '../../test/support/caps.js';

const facts: NodeFacts = {
  node: 'n1',
  underlayIp: '198.18.0.1',
  underlayMtu: 1500,
  capabilities: testCaps({ geneve: true }),
};

const ep = (id: string, node: string, vtep: string, mac: string, ip: string): NodeView['endpoints'][string] => ({
  id,
  network: 'g',
  kind: 'container',
  owner: `${id}-owner`,
  name: id,
  mac,
  ip,
  node,
  vtep,
  ifindex: 0,
});

function view(flood = ['198.18.0.2', '198.18.0.3']): NodeView {
  return {
    node: 'n1',
    underlayIp: '198.18.0.1',
    revision: 1,
    containers: {},
    keys: {},
    networks: {
      g: { id: 'g', tenant: 't', name: 'web', type: 'geneve', vni: 300, cidr: '10.0.0.0/24', gateway: null, mtu: 1450, domain: 'd', flood },
    },
    endpoints: {
      b: ep('b', 'n2', '198.18.0.2', '02:00:00:00:00:0b', '10.0.0.11'),
      c: ep('c', 'n3', '198.18.0.3', '02:00:00:00:00:0c', '10.0.0.12'),
    },
  };
}

const strip = (s: KernelState): KernelState => {
  const st = <T extends { network?: string }>(m: Map<string, T>) =>
    new Map(
      [...m].map(([k, v]) => {
        const { network: _n, ...r } = v;
        return [k, r as T];
      }),
    );
  return { ...s, links: st(s.links), fdb: st(s.fdb), neigh: st(s.neigh), nft: new Map(s.nft) };
};

describe('geneve device names', () => {
  it('encode the VNI in hex and the low 20 bits of the peer, fit 15 chars and are owned', () => {
    expect(geneveName(300, '198.18.0.2')).toBe('frg12c-20002');
    expect(geneveName(0xffffff, '255.255.255.255')).toBe('frgffffff-fffff');
    expect(geneveName(0xffffff, '255.255.255.255').length).toBe(15);
    expect(geneveName(1, '198.18.3.4')).toBe('frg1-20304');
    for (const n of ['frg12c-20002', 'frg-300', 'frb-1', 'frx-1']) expect(isOwnedLink(n), n).toBe(true);
    for (const n of ['frh-12345678', 'frp-probe', 'frg12c-2002', 'eth0']) expect(isOwnedLink(n), n).toBe(false);
  });
});

describe('multi-peer geneve (desired)', () => {
  it("one isolated device per peer in the bridge, master FDB entries on the hosting peer's port, no self entries", () => {
    const d = desiredState(view(), facts);
    expect(d.networkErrors).toEqual([]);
    expect([...d.links.keys()]).toEqual(['frb-300', 'frg12c-20002', 'frg12c-20003']);
    expect(d.links.get('frg12c-20003')).toEqual({
      name: 'frg12c-20003',
      kind: 'geneve',
      mtu: 1450,
      up: true,
      master: 'frb-300',
      vni: 300,
      port: 6081,
      remote: '198.18.0.3',
      learning: false,
      neighSuppress: true,
      isolated: true,
      network: 'g',
    });
    expect([...d.fdb.keys()].sort()).toEqual(['frg12c-20002|master|02:00:00:00:00:0b|', 'frg12c-20003|master|02:00:00:00:00:0c|']);
    expect([...d.neigh.keys()].sort()).toEqual(['frb-300|10.0.0.11', 'frb-300|10.0.0.12']);
  });

  it('a peer known only from an endpoint (not yet in the flood list) still gets its device', () => {
    const d = desiredState(view(['198.18.0.2']), facts);
    expect(d.links.get('frg12c-20003')?.remote).toBe('198.18.0.3');
  });

  it('two peers that share a device name: the second is a network error, the first still works', () => {
    const v = view(['198.18.0.2', '198.34.0.2']);
    v.endpoints.c.vtep = '198.34.0.2';
    const d = desiredState(v, facts);
    expect(d.networkErrors).toEqual([
      {
        network: 'g',
        message:
          'geneve network t/web (vni 300): peers 198.18.0.2 and 198.34.0.2 share device name frg12c-20002; 198.34.0.2 is unreachable',
      },
    ]);
    expect([...d.fdb.values()].map((f) => f.mac)).toEqual(['02:00:00:00:00:0b']);
  });
});

describe('multi-peer geneve (plan)', () => {
  it('from an empty kernel: bridge, then both devices, isolated port flags, FDB', () => {
    const ops = plan(desiredState(view(), facts), emptyState());
    expect(ops.filter((o) => o.kind === 'link.create').map((o) => o.kind === 'link.create' && o.link.name)).toEqual([
      'frb-300',
      'frg12c-20002',
      'frg12c-20003',
    ]);
    expect(ops.filter((o) => o.kind === 'port.flags')).toEqual([
      {
        kind: 'port.flags',
        name: 'frg12c-20002',
        learning: false,
        neighSuppress: true,
        isolated: true,
        reason: 'port flags',
        network: 'g',
      },
      {
        kind: 'port.flags',
        name: 'frg12c-20003',
        learning: false,
        neighSuppress: true,
        isolated: true,
        reason: 'port flags',
        network: 'g',
      },
    ]);
    expect(ops.filter((o) => o.kind === 'fdb.add')).toHaveLength(2);
  });

  it('identical state plans nothing; a lost isolated flag is put back', () => {
    const d = desiredState(view(), facts);
    const a = strip(d);
    expect(plan(d, a)).toEqual([]);
    a.links.set('frg12c-20002', { ...a.links.get('frg12c-20002')!, isolated: false });
    expect(plan(d, a).map((o) => o.kind === 'port.flags' && [o.name, o.isolated])).toEqual([['frg12c-20002', true]]);
  });

  it("a new peer adds its device and entries only; a departed peer's device is deleted with its entries", () => {
    const two = desiredState(view(['198.18.0.2']), facts);
    const v = view(['198.18.0.2']);
    delete v.endpoints.c;
    const before = desiredState(v, facts);
    const grow = plan(two, strip(before));
    expect(grow.map((o) => o.kind).sort()).toEqual(['fdb.add', 'link.create', 'neigh.add', 'port.flags']);
    const shrink = plan(before, strip(two));
    expect(shrink.map((o) => (o.kind === 'link.delete' ? `${o.kind} ${o.name}` : o.kind))).toEqual([
      'link.delete frg12c-20003',
      'neigh.del',
    ]);
  });

  it('a single-device geneve network from an older agent (frg-300) is replaced', () => {
    const a = strip(desiredState(view(), facts));
    a.links.set('frg-300', {
      name: 'frg-300',
      kind: 'geneve',
      mtu: 1450,
      up: true,
      master: 'frb-300',
      vni: 300,
      port: 6081,
      remote: '198.18.0.2',
    });
    expect(plan(desiredState(view(), facts), a)).toEqual([
      { kind: 'link.delete', name: 'frg-300', linkKind: 'geneve', reason: 'not in view' },
    ]);
  });
});
