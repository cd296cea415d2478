import { describe, expect, it } from 'vitest';
import { applyOps } from '../../protocol/view.js';
import { applyRefresh, type Refresh } from './apply.js';
import { compileView } from './compile.js';
import { heldOf, liveOps, resumeOps, type ChangeRow } from './diff.js';
import { emptyState, type ContainerRow, type EndpointRow, type NetworkRow, type NodeRow } from './state.js';

const node = (id: string, ip: string, mtu = 1500): NodeRow => ({
  id,
  name: id,
  underlayIp: ip,
  underlayMtu: mtu,
  ready: true,
  physicalMtus: {},
});
const net = (id: string, tenant: string, extra: Partial<NetworkRow> = {}): NetworkRow => ({
  id,
  tenantId: tenant,
  tenant,
  name: id,
  type: 'vxlan',
  vni: 100,
  cidr: '10.0.0.0/24',
  gateway: null,
  mtu: null,
  domain: 'freight.internal',
  router: null,
  params: extra.type === 'ipsec' ? { type: 'ipsec' } : { type: 'vxlan', port: 4789 },
  dhcp: true,
  ...extra,
});
const ct = (id: string, tenant: string, nodeId: string | null, extra: Partial<ContainerRow> = {}): ContainerRow => ({
  id,
  tenantId: tenant,
  tenant,
  name: id,
  kind: 'container',
  networkId: null,
  image: 'busybox',
  command: [],
  boot: false,
  restart: 'never',
  nodeId,
  desired: 'running',
  generation: 1,
  memory: 536870912,
  cpuMillis: null,
  pids: 1024,
  publish: [],
  ...extra,
});
let macN = 0;
const ep = (id: string, netId: string, ctId: string, nodeId: string | null, ip: string): EndpointRow => ({
  id,
  networkId: netId,
  containerId: ctId,
  ifindex: 0,
  mac: `02:00:00:00:00:${(++macN).toString(16).padStart(2, '0')}`,
  ip,
  nodeId,
});
const pairs = <T extends { id: string }>(rows: T[]): Array<[string, T]> => rows.map((r) => [r.id, r]);

/** Two tenants: red on n1+n2 (infra on n1), blue on n3 only; a pending red container. */
function cluster() {
  const state = emptyState();
  const r: Refresh = {
    nodes: pairs([node('n1', '198.18.0.1'), node('n2', '198.18.0.2', 9000), node('n3', '198.18.0.3')]),
    networks: pairs([net('red', 'tred', { type: 'ipsec' }), net('blue', 'tblue', { mtu: 1400 })]),
    containers: pairs([
      ct('infra-red', 'tred', 'n1', { kind: 'infra', networkId: 'red' }),
      ct('a', 'tred', 'n1'),
      ct('b', 'tred', 'n2'),
      ct('pending', 'tred', null),
      ct('c', 'tblue', 'n3'),
    ]),
    endpoints: pairs([
      ep('e-infra', 'red', 'infra-red', 'n1', '10.0.0.2'),
      ep('ea', 'red', 'a', 'n1', '10.0.0.3'),
      ep('eb', 'red', 'b', 'n2', '10.0.0.4'),
      ep('ep', 'red', 'pending', null, '10.0.0.5'),
      ep('ec', 'blue', 'c', 'n3', '10.0.0.3'),
    ]),
    keys: pairs([
      {
        id: 'k1',
        networkId: 'red',
        nodeA: 'n1',
        nodeB: 'n2',
        generation: 1,
        spiAb: 0x100,
        spiBa: 0x200,
        keyAb: 'a'.repeat(40),
        keyBa: 'b'.repeat(40),
        phase: 'active' as const,
      },
    ]),
  };
  applyRefresh(state, r);
  return state;
}

describe('view compiler', () => {
  it('gives a node only the networks it hosts, with all their endpoints and the remote vteps', () => {
    const v1 = compileView(cluster(), 'n1', 7);
    expect(Object.keys(v1.networks)).toEqual(['red']);
    expect(Object.keys(v1.endpoints).sort()).toEqual(['e-infra', 'ea', 'eb']);
    expect(v1.endpoints.eb).toMatchObject({ node: 'n2', vtep: '198.18.0.2', owner: 'b', name: 'b', kind: 'container' });
    expect(v1.endpoints['e-infra']).toMatchObject({ kind: 'infra', name: 'infra', owner: 'infra-red' });
    expect(v1.networks.red.flood).toEqual(['198.18.0.2']);
    expect(v1.revision).toBe(7);
    const blob = JSON.stringify(v1);
    expect(blob).not.toContain('tblue');
    expect(blob).not.toContain('"ec"');
  });

  it('isolates tenants: a node hosting only blue sees nothing of red', () => {
    const v3 = compileView(cluster(), 'n3', 1);
    expect(Object.keys(v3.networks)).toEqual(['blue']);
    expect(Object.keys(v3.endpoints)).toEqual(['ec']);
    expect(v3.networks.blue.flood).toEqual([]);
    expect(JSON.stringify(v3)).not.toMatch(/"red"|tred|"ea"|"k1"/);
  });

  it('computes mtu from the node underlay minus overhead unless the network sets it', () => {
    const s = cluster();
    expect(compileView(s, 'n1', 1).networks.red.mtu).toBe(1500 - 90);
    expect(compileView(s, 'n2', 1).networks.red.mtu).toBe(9000 - 90);
    expect(compileView(s, 'n3', 1).networks.blue.mtu).toBe(1400);
  });

  it('orients ipsec keys: spiOut/keyOut are the sending direction of the node', () => {
    const s = cluster();
    const k1 = compileView(s, 'n1', 1).keys.k1;
    const k2 = compileView(s, 'n2', 1).keys.k1;
    expect(k1).toMatchObject({ peer: 'n2', peerIp: '198.18.0.2', spiOut: 0x100, spiIn: 0x200, keyOut: 'a'.repeat(40) });
    expect(k2).toMatchObject({ peer: 'n1', peerIp: '198.18.0.1', spiOut: 0x200, spiIn: 0x100, keyOut: 'b'.repeat(40) });
    expect(compileView(s, 'n3', 1).keys).toEqual({});
  });

  it('leaves pending containers and their endpoints out of every view', () => {
    const s = cluster();
    for (const n of ['n1', 'n2', 'n3']) {
      const v = compileView(s, n, 1);
      expect(v.containers.pending).toBeUndefined();
      expect(v.endpoints.ep).toBeUndefined();
    }
    expect(Object.keys(compileView(s, 'n1', 1).containers).sort()).toEqual(['a', 'infra-red']);
  });

  it('live deltas equal recompiling: a network appearing on a node brings all its items; others get only the new endpoint', () => {
    const s = cluster();
    const sent = Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, compileView(s, n, 1)]));
    const held = Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, heldOf(sent[n])]));
    const fx = applyRefresh(s, { containers: pairs([ct('d', 'tred', 'n3')]), endpoints: pairs([ep('ed', 'red', 'd', 'n3', '10.0.0.9')]) });
    const ops = Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, liveOps(s, n, fx, held[n])]));
    for (const n of ['n1', 'n2', 'n3']) expect(applyOps(sent[n], ops[n], 1)).toEqual(compileView(s, n, 1));
    for (const n of ['n1', 'n2', 'n3']) expect(held[n]).toEqual(heldOf(compileView(s, n, 1)));
    expect(ops.n3.map((o) => `${o.kind}/${o.id}`).sort()).toEqual(
      ['containers/d', 'endpoints/e-infra', 'endpoints/ea', 'endpoints/eb', 'endpoints/ed', 'keys/k1', 'networks/red'].filter(
        (x) => x !== 'keys/k1',
      ),
    );
    // n1 gets the endpoint and the new flood target, nothing of blue
    expect(ops.n1.map((o) => `${o.kind}/${o.id}`).sort()).toEqual(['endpoints/ed', 'networks/red']);
    expect(compileView(s, 'n1', 1).networks.red.flood).toEqual(['198.18.0.2', '198.18.0.3']);
  });

  it('a second endpoint on a network already present changes one item per node and nothing for others', () => {
    const s = cluster();
    const sent = Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, heldOf(compileView(s, n, 1))]));
    const fx = applyRefresh(s, { containers: pairs([ct('e', 'tred', 'n2')]), endpoints: pairs([ep('ee', 'red', 'e', 'n2', '10.0.0.10')]) });
    expect(liveOps(s, 'n1', fx, sent.n1)).toEqual([{ kind: 'endpoints', id: 'ee', value: s.viewEndpoints.get('ee') }]);
    expect(
      liveOps(s, 'n2', fx, sent.n2)
        .map((o) => o.id)
        .sort(),
    ).toEqual(['e', 'ee']);
    expect(liveOps(s, 'n3', fx, sent.n3)).toEqual([]);
  });

  it('resume ops bring an old view to the current one and mention nothing of unhosted networks', () => {
    const s = cluster();
    const old = compileView(s, 'n3', 1);
    applyRefresh(s, {
      containers: pairs([ct('d', 'tred', 'n3')]),
      endpoints: pairs([ep('ed', 'red', 'd', 'n3', '10.0.0.9'), ['ec', null] as never]),
    });
    const rows: ChangeRow[] = [
      { revision: 2, kind: 'containers', objectId: 'd', op: 'insert', networkId: null, nodeIds: ['n3'] },
      { revision: 3, kind: 'endpoints', objectId: 'ed', op: 'insert', networkId: 'red', nodeIds: ['n3'] },
      { revision: 4, kind: 'endpoints', objectId: 'ec', op: 'delete', networkId: 'blue', nodeIds: ['n3'] },
      { revision: 5, kind: 'endpoints', objectId: 'zz', op: 'delete', networkId: 'other', nodeIds: ['n1'] },
    ];
    const cur = compileView(s, 'n3', 5);
    const ops = resumeOps(s, 'n3', rows, cur);
    expect(applyOps(old, ops, 5)).toEqual(cur);
    expect(JSON.stringify(ops)).not.toContain('zz');
    const n1ops = resumeOps(s, 'n1', rows.slice(3), compileView(s, 'n1', 5));
    expect(JSON.stringify(n1ops)).not.toContain('blue');
  });
});
