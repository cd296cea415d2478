import { describe, expect, it } from 'vitest';
import { emptyView, type NodeView, type ViewContainer, type ViewNetwork } from '../../protocol/view.js';
import { desiredRouters } from './desired.js';
import { externalBridges } from './external.js';
import { routerTableText } from './nft-text.js';
import { physicalBridgeName } from '../names.js';
import { viewContainer } from '../../test/support/view.js';

const EXT = { id: 'ext-id', physicalNetwork: 'ext', cidr: '203.0.113.0/24', gateway: '203.0.113.1', mtu: 1500 };
const R = {
  id: 'bbbbbbbb-0000-4000-8000-000000000002',
  name: 'r1',
  external: true,
  slot: 5,
  externalNetwork: EXT,
  externalIp: '203.0.113.101',
};
const net = (id: string, vni: number, cidr: string, gateway: string, router = R): ViewNetwork => ({
  id,
  tenant: 'acme',
  name: id,
  type: 'vxlan',
  vni,
  cidr,
  gateway,
  mtu: 1450,
  domain: 'freight.internal',
  flood: [],
  router,
});
const ct = (id: string, extra: Partial<ViewContainer> = {}): ViewContainer => viewContainer(id, { tenant: 'acme', ...extra });

function view(): NodeView {
  const v = emptyView('n1', '198.18.0.1');
  v.networks = { web: net('web', 100, '10.1.0.0/24', '10.1.0.1') };
  const ep = (id: string, ip: string, node: string) => ({
    id,
    network: 'web',
    kind: 'container' as const,
    owner: `c${id}`,
    name: id,
    mac: `02:00:00:00:00:0${id}`,
    ip,
    node,
    vtep: node === 'n1' ? '198.18.0.1' : '198.18.0.2',
    ifindex: 0,
  });
  v.endpoints = { '1': ep('1', '10.1.0.2', 'n1'), '2': ep('2', '10.1.0.3', 'n2') };
  v.containers = { c1: ct('c1', { floatingIps: [{ ip: '203.0.113.120', network: 'ext-id' }] }) };
  return v;
}

describe('external port and floating IPs (pure)', () => {
  it('a port into the physical bridge with this node’s address, the floating IPs of local containers one to one', () => {
    const r = desiredRouters(view()).get(R.id)!;
    expect(r.externalPort).toEqual({
      network: 'ext-id',
      physicalNetwork: 'ext',
      bridge: physicalBridgeName('ext'),
      host: 'frk-5',
      inner: 'frk-out',
      address: '203.0.113.101/24',
      cidr: '203.0.113.0/24',
      gateway: '203.0.113.1',
      mtu: 1500,
      floating: [{ ip: '203.0.113.120', fixed: '10.1.0.2' }],
    });
    expect(externalBridges(view())).toEqual([{ network: 'ext-id', physicalNetwork: 'ext', mtu: 1500 }]);
  });

  it('a floating IP of another external network, or of a container elsewhere, is not NATed here', () => {
    const v = view();
    v.containers.c1 = ct('c1', { floatingIps: [{ ip: '198.51.100.7', network: 'other-ext' }] });
    v.containers.c2 = ct('c2', { floatingIps: [{ ip: '203.0.113.121', network: 'ext-id' }] }); // its endpoint is on n2
    expect(desiredRouters(v).get(R.id)!.externalPort!.floating).toEqual([]);
  });

  it('nft: DNAT and one-to-one SNAT of the floating IP, the rest to the node address, nothing new in, the deny list out of reach', () => {
    const t = routerTableText(desiredRouters(view()).get(R.id)!, ['198.18.0.254', '198.18.0.1']);
    expect(t).toContain('iifname "frk-out" ip daddr 203.0.113.120 dnat to 10.1.0.2');
    expect(t).toContain('oifname "frk-out" ip saddr 10.1.0.2 snat to 203.0.113.120');
    expect(t.indexOf('snat to 203.0.113.120')).toBeLessThan(t.indexOf('oifname "frk-out" snat to 203.0.113.101'));
    expect(t).toContain('iifname "frk-out" counter drop comment "inbound_external"');
    expect(t).toContain('oifname "frk-out" ip daddr @deny counter drop comment "deny"');
    expect(t).toContain('elements = { 198.18.0.1, 198.18.0.254 }');
    expect(t).toContain('iifname "fre-out" ct state new ct mark set 1');
    expect(t).not.toContain('no_external_address');
  });

  it('no address allocated on this node (pool exhausted): no egress from here, floating IPs still work', () => {
    const v = view();
    const { externalIp: _gone, ...noIp } = R;
    v.networks.web = net('web', 100, '10.1.0.0/24', '10.1.0.1', noIp as typeof R);
    const r = desiredRouters(v).get(R.id)!;
    expect(r.externalPort!.address).toBeNull();
    const t = routerTableText(r);
    expect(t).toContain('oifname "frk-out" counter drop comment "no_external_address"');
    expect(t).toContain('dnat to 10.1.0.2');
  });
});
