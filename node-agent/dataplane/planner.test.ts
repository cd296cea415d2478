import { describe, expect, it } from 'vitest';
import type { NodeView } from '../../protocol/view.js';
import { desiredState } from './desired.js';
import { encode } from './executor.js';
import { plan } from './planner.js';
import { emptyState, type KernelState, type NodeFacts } from './types.js';
import { testCaps } from '../../test/support/caps.js';

const facts: NodeFacts = {
  node: 'n1',
  underlayIp: '198.18.0.1',
  underlayMtu: 1500,
  capabilities: testCaps({ details: { geneve: 'module not available' } }),
};

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
      e1: {
        id: 'e1',
        network: 'a',
        kind: 'container',
        owner: 'c1',
        name: 'c1',
        mac: '02:00:00:00:00:01',
        ip: '10.0.0.5',
        node: 'n2',
        vtep: '198.18.0.2',
        ifindex: 0,
      },
      e2: {
        id: 'e2',
        network: 'a',
        kind: 'container',
        owner: 'c2',
        name: 'c2',
        mac: '02:00:00:00:00:02',
        ip: '10.0.0.6',
        node: 'n1',
        vtep: '198.18.0.1',
        ifindex: 0,
      },
    },
    ...over,
  };
}

/** The kernel after applying a desired state perfectly (no network attribution, as a dump would give). */
function asActual(s: KernelState): KernelState {
  const strip = <T extends { network?: string }>(m: Map<string, T>) =>
    new Map(
      [...m].map(([k, v]) => {
        const { network: _n, ...rest } = v;
        return [k, rest as T];
      }),
    );
  return {
    links: strip(s.links),
    ports: new Map(s.ports),
    uplinks: strip(s.uplinks),
    fdb: strip(s.fdb),
    neigh: strip(s.neigh),
    sas: strip(s.sas),
    policies: strip(s.policies),
    nft: new Map(s.nft),
  };
}

describe('desiredState', () => {
  it('has a bridge, a tunnel, FDB self+master and neigh for remote endpoints only, and flood entries', () => {
    const d = desiredState(view(), facts);
    expect([...d.links.keys()]).toEqual(['frb-100', 'frx-100']);
    expect(d.links.get('frx-100')).toMatchObject({
      vni: 100,
      local: '198.18.0.1',
      port: 4789,
      master: 'frb-100',
      learning: false,
      neighSuppress: true,
      mtu: 1450,
    });
    expect([...d.fdb.keys()].sort()).toEqual([
      'frx-100|master|02:00:00:00:00:01|',
      'frx-100|self|00:00:00:00:00:00|198.18.0.2',
      'frx-100|self|02:00:00:00:00:01|198.18.0.2',
    ]);
    expect([...d.neigh.keys()]).toEqual(['frb-100|10.0.0.5']);
  });

  it('creates a bridge with the fixed MAC of the VNI it is given (the name is not parsed)', () => {
    const d = desiredState(view(), facts);
    d.links.set('frb-100', { ...d.links.get('frb-100')!, name: 'frb-renamed' });
    const op = plan(d, emptyState()).find((o) => o.kind === 'link.create' && o.link.kind === 'bridge')!;
    const msg = encode(op, () => 1);
    const bytes = Buffer.concat(Array.isArray(msg.payload) ? msg.payload : [msg.payload]);
    expect(bytes.includes(Buffer.from([0x02, 0xfb, 0, 0, 100, 0]))).toBe(true);
  });

  it('turns a network type the kernel lacks into a network error and keeps the rest', () => {
    const v = view();
    v.networks.g = { ...v.networks.a, id: 'g', name: 'web', tenant: 'acme', type: 'geneve', vni: 200 };
    const d = desiredState(v, facts);
    expect(d.networkErrors).toEqual([
      { network: 'g', message: 'geneve network acme/web (vni 200): kernel lacks geneve (module not available)' },
    ]);
    expect(d.links.has('frb-100')).toBe(true);
    expect(d.links.has('frg-200')).toBe(false);
  });

  it('follows ipsec key phases: inbound → one SA, active → two SAs and two policies', () => {
    const caps = { ...facts, capabilities: { ...facts.capabilities, esp: true, aead: true } };
    const v = view();
    v.networks.a.type = 'ipsec';
    v.networks.a.mtu = 1400;
    const key = {
      id: 'k',
      network: 'a',
      peer: 'n2',
      peerIp: '198.18.0.2',
      generation: 1,
      spiOut: 0x101,
      spiIn: 0x201,
      keyOut: '1'.repeat(40),
      keyIn: '2'.repeat(40),
    };
    const inbound = desiredState({ ...v, keys: { k: { ...key, phase: 'inbound' } } }, caps);
    expect([...inbound.sas.values()].map((s) => [s.dir, s.spi])).toEqual([['in', 0x201]]);
    expect(inbound.policies.size).toBe(0);
    const active = desiredState({ ...v, keys: { k: { ...key, phase: 'active' } } }, caps);
    expect([...active.sas.values()].map((s) => [s.dir, s.spi, s.src, s.dst])).toEqual([
      ['in', 0x201, '198.18.0.2', '198.18.0.1'],
      ['out', 0x101, '198.18.0.1', '198.18.0.2'],
    ]);
    expect([...active.policies.keys()].sort()).toEqual(['in|198.18.0.2|198.18.0.1|4789', 'out|198.18.0.1|198.18.0.2|4789']);
  });
});

describe('plan', () => {
  it('plans everything from an empty kernel, creating bridges before use', () => {
    const ops = plan(desiredState(view(), facts), emptyState());
    expect(ops.filter((o) => o.kind === 'link.create').map((o) => o.kind === 'link.create' && o.link.name)).toEqual(['frb-100', 'frx-100']);
    expect(ops.filter((o) => o.kind === 'fdb.add')).toHaveLength(3);
    expect(ops.filter((o) => o.kind === 'port.flags')).toHaveLength(1);
  });

  it('plans zero ops on identical state', () => {
    const d = desiredState(view(), facts);
    expect(plan(d, asActual(d))).toEqual([]);
  });

  it('changes MTU in place', () => {
    const d = desiredState(view(), facts);
    const actual = asActual(d);
    actual.links.set('frx-100', { ...actual.links.get('frx-100')!, mtu: 1400 });
    expect(plan(d, actual)).toEqual([{ kind: 'link.set', name: 'frx-100', mtu: 1450, reason: 'drift', network: 'a' }]);
  });

  it('turns an immutable change (local address) into delete + create with the reason and re-adds its FDB', () => {
    const d = desiredState(view(), facts);
    const actual = asActual(d);
    actual.links.set('frx-100', { ...actual.links.get('frx-100')!, local: '198.18.0.9' });
    const ops = plan(d, actual);
    expect(ops[0]).toEqual({
      kind: 'link.delete',
      name: 'frx-100',
      linkKind: 'vxlan',
      reason: 'local 198.18.0.9→198.18.0.1',
      network: 'a',
    });
    expect(ops[1]).toMatchObject({ kind: 'link.create', link: { name: 'frx-100' }, reason: 'local 198.18.0.9→198.18.0.1' });
    expect(ops.filter((o) => o.kind === 'fdb.add')).toHaveLength(3);
    expect(ops.some((o) => o.kind === 'fdb.del')).toBe(false);
    expect(ops.some((o) => o.kind === 'port.flags')).toBe(true);
  });

  it("removing a network deletes its links only (their entries go with them) and the last local port's guard table", () => {
    const d = desiredState(view(), facts);
    const ops = plan(desiredState(view({ networks: {}, endpoints: {} }), facts), asActual(d));
    expect(ops.map((o) => o.kind)).toEqual(['link.delete', 'link.delete', 'nft.apply']);
  });

  it('removing an endpoint deletes its FDB and neigh entries', () => {
    const d = desiredState(view(), facts);
    const v = view();
    delete v.endpoints.e1;
    const ops = plan(desiredState(v, facts), asActual(d));
    expect(ops.map((o) => o.kind).sort()).toEqual(['fdb.del', 'fdb.del', 'neigh.del']);
  });

  it('re-enslaves an attached runtime port but never deletes unknown frh- ports', () => {
    const d = desiredState(view(), facts, new Map([['frh-x', 'a']]));
    const actual = asActual(d);
    actual.ports.set('frh-x', { name: 'frh-x', master: '' });
    actual.ports.set('frh-y', { name: 'frh-y', master: '' });
    expect(plan(d, actual)).toEqual([{ kind: 'link.set', name: 'frh-x', master: 'frb-100', reason: 'runtime port detached' }]);
  });
});
