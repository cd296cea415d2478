import { describe, expect, it } from 'vitest';
import type { NodeView, ViewNetwork } from '../../protocol/view.js';
import { physicalBridgeName, vlanName } from '../names.js';
import { desiredState } from './desired.js';
import { plan } from './planner.js';
import { emptyState, type NodeFacts } from './types.js';
import { testCaps } from '../../test/support/caps.js';

const facts = (over: Partial<NodeFacts['capabilities']> = {}): NodeFacts => ({
  node: 'n1',
  underlayIp: '198.18.0.1',
  underlayMtu: 1500,
  capabilities: testCaps({ vlan: true, physicalNetworks: { datacenter: { interface: 'eth1', mtu: 1500 } }, ...over }),
});

const net = (id: string, over: Partial<ViewNetwork>): ViewNetwork => ({
  id,
  tenant: 't',
  name: id,
  type: 'physical',
  vni: null,
  params: { type: 'physical', physicalNetwork: 'datacenter' },
  dhcp: true,
  cidr: '192.168.10.0/24',
  gateway: '192.168.10.1',
  mtu: 1500,
  domain: 'd',
  flood: [],
  ...over,
});

const ep = (id: string, network: string, owner: string, node: string, ip: string) => ({
  id,
  network,
  kind: 'container' as const,
  owner,
  name: owner,
  mac: `02:00:00:00:00:${id.slice(-2)}`,
  ip,
  node,
  vtep: node === 'n1' ? '198.18.0.1' : '198.18.0.2',
  ifindex: 0,
});

function view(): NodeView {
  return {
    node: 'n1',
    underlayIp: '198.18.0.1',
    revision: 1,
    containers: {},
    keys: {},
    networks: {
      flat: net('flat', {}),
      v100: net('v100', { params: { type: 'physical', physicalNetwork: 'datacenter', vlan: 100 }, cidr: '10.100.0.0/24', gateway: null }),
    },
    endpoints: {
      e01: ep('e01', 'flat', 'aaaaaaaa-0000-0000-0000-000000000001', 'n1', '192.168.10.100'),
      e02: ep('e02', 'flat', 'bbbbbbbb-0000-0000-0000-000000000002', 'n2', '192.168.10.101'),
      e03: ep('e03', 'v100', 'cccccccc-0000-0000-0000-000000000003', 'n1', '10.100.0.10'),
    },
  };
}

describe('physical networks (pure desired state and plan)', () => {
  it('a flat network enslaves the mapped interface; a VLAN gets a sub-interface on it; container ports join their bridge', () => {
    const s = desiredState(view(), facts());
    const flat = physicalBridgeName('datacenter');
    const br100 = physicalBridgeName('datacenter', 100);
    const sub = vlanName('datacenter', 100);
    expect([flat, br100, sub].every((n) => n.length <= 15 && n.startsWith('fr'))).toBe(true);
    expect(s.networkErrors).toEqual([]);
    expect([...s.links.keys()].sort()).toEqual([flat, br100, sub].sort());
    expect(s.links.get(sub)).toMatchObject({
      kind: 'vlan',
      vlan: 100,
      parent: 'eth1',
      master: br100,
      learning: true,
      neighSuppress: false,
    });
    expect(s.uplinks.get('eth1')).toMatchObject({ name: 'eth1', master: flat, up: true });
    expect(s.ports.get('frh-aaaaaaaa0')?.master).toBe(flat);
    expect(s.ports.get('frh-cccccccc0')?.master).toBe(br100);
    // nothing into tunnels: no FDB, no neighbour entries for the remote endpoint
    expect([...s.fdb.values(), ...s.neigh.values()]).toEqual([]);
    // container ports are guarded; the uplink is not in the guard's port set (trusted)
    const ports = s.nft.get('bridge')!.sets.find((x) => x.name === 'ports')!.elems;
    expect(ports).toEqual(['frh-aaaaaaaa0', 'frh-cccccccc0']);
  });

  it('refuses what the node cannot carry, with the reason: no mapping, no 802.1Q, an MTU above the interface', () => {
    const noMap = desiredState(view(), facts({ physicalNetworks: {} }));
    expect(noMap.networkErrors.map((e) => e.message)).toEqual([
      expect.stringMatching(/node n1 does not map physical network datacenter \(freight-agent --physical-network datacenter=IFACE\)/),
      expect.stringMatching(/does not map physical network datacenter/),
    ]);
    expect(noMap.links.size).toBe(0);
    const noVlan = desiredState(view(), facts({ vlan: false, details: { vlan: 'module 8021q not available' } }));
    expect(noVlan.networkErrors).toEqual([
      { network: 'v100', message: expect.stringMatching(/lacks 802\.1Q VLAN \(module 8021q not available\)/) },
    ]);
    expect(noVlan.uplinks.get('eth1')?.master).toBe(physicalBridgeName('datacenter'));
    const big = view();
    big.networks.flat.mtu = 9000;
    expect(desiredState(big, facts()).networkErrors[0].message).toMatch(/mtu 9000 exceeds the mtu 1500 of eth1/);
  });

  it('plans the uplink: up and enslaved, never created or deleted; a changed VLAN ID recreates the sub-interface', () => {
    const d = desiredState(view(), facts());
    const actual = emptyState();
    actual.uplinks.set('eth1', { name: 'eth1', up: false });
    const ops = plan(d, actual);
    expect(ops.filter((o) => o.kind === 'link.set' && o.name === 'eth1')).toEqual([
      expect.objectContaining({ master: physicalBridgeName('datacenter'), up: true, reason: 'uplink' }),
    ]);
    expect(ops.some((o) => (o.kind === 'link.create' || o.kind === 'link.delete') && 'name' in o && o.name === 'eth1')).toBe(false);
    // converged: nothing to do
    const same = { ...emptyState(), links: new Map(d.links), uplinks: new Map(d.uplinks), ports: new Map(d.ports), nft: d.nft };
    expect(plan(d, same).filter((o) => o.kind !== 'port.flags')).toEqual([]);
    const sub = vlanName('datacenter', 100);
    same.links.set(sub, { ...d.links.get(sub)!, vlan: 101 });
    expect(
      plan(d, same)
        .filter((o) => o.kind === 'link.delete' || o.kind === 'link.create')
        .map((o) => [o.kind, o.reason]),
    ).toEqual([
      ['link.delete', 'vlan 101→100'],
      ['link.create', 'vlan 101→100'],
    ]);
  });

  it("honours an overlay's params: a vxlan network on port 8472 gets its device on 8472, geneve on its own port", () => {
    const v = view();
    v.networks = {
      x: net('x', { type: 'vxlan', vni: 42, params: { type: 'vxlan', port: 8472 }, flood: ['198.18.0.2'], mtu: 1450 }),
    };
    v.endpoints = {};
    expect(desiredState(v, facts()).links.get('frx-42')).toMatchObject({ kind: 'vxlan', port: 8472 });
    v.networks.x.params = undefined; // an older controller: the IANA port
    expect(desiredState(v, facts()).links.get('frx-42')?.port).toBe(4789);
    v.networks = {
      g: net('g', { type: 'geneve', vni: 43, params: { type: 'geneve', port: 7000 }, flood: ['198.18.0.2'], mtu: 1450 }),
    };
    const g = [...desiredState(v, facts({ geneve: true })).links.values()].find((l) => l.kind === 'geneve');
    expect(g?.port).toBe(7000);
  });
});
