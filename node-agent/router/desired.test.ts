import { describe, expect, it } from 'vitest';
import { emptyView, type NodeView, type ViewEndpoint, type ViewNetwork } from '../../protocol/view.js';
import { desiredRouters, infraRoutes, transferAddresses } from './desired.js';
import { hostTableText, routerTableText } from './nft-text.js';
import { gatewayMac, isRouterNetnsOf, routerNetnsName } from '../names.js';
import { viewContainer } from '../../test/support/view.js';

const R1 = { id: 'aaaaaaaa-0000-4000-8000-000000000001', name: 'r1', external: true, slot: 3 };
const net = (id: string, vni: number, cidr: string, gateway: string | null, router?: typeof R1): ViewNetwork => ({
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
  ...(router ? { router } : {}),
});
const ep = (id: string, network: string, ip: string, node: string, kind: 'container' | 'infra' = 'container'): ViewEndpoint => ({
  id,
  network,
  kind,
  owner: `owner-${id}`,
  name: id,
  mac: `02:00:00:00:00:${id.padStart(2, '0').slice(-2)}`,
  ip,
  node,
  vtep: node === 'n1' ? '198.18.0.1' : '198.18.0.2',
  ifindex: 0,
});

function view(): NodeView {
  const v = emptyView('n1', '198.18.0.1');
  v.networks = {
    web: net('web', 100, '10.1.0.0/24', '10.1.0.1', R1),
    db: net('db', 200, '10.2.0.0/24', '10.2.0.1', R1),
    lone: net('lone', 300, '10.9.0.0/24', null),
  };
  v.endpoints = {
    '11': ep('11', 'web', '10.1.0.2', 'n1'),
    '12': ep('12', 'db', '10.2.0.2', 'n2'),
    '13': ep('13', 'lone', '10.9.0.2', 'n1'),
    '14': ep('14', 'web', '10.1.0.254', 'n1', 'infra'),
  };
  v.containers = {
    'owner-14': viewContainer('owner-14', { tenant: 'acme', name: 'infra-web', kind: 'infra', image: 'freight-infra', restart: 'always' }),
    'owner-11': viewContainer('owner-11', { tenant: 'acme', name: '11', publish: [{ proto: 'tcp', hostPort: 8080, port: 80 }] }),
  };
  return v;
}

describe('router desired state', () => {
  it('one router netns per router per node, a port per attached network with the gateway MAC, every endpoint as a neighbour', () => {
    const routers = desiredRouters(view());
    expect([...routers.keys()]).toEqual([R1.id]);
    const r = routers.get(R1.id)!;
    expect(r.ns).toBe('frraaaaaa-20001');
    expect(r.ns.length).toBeLessThanOrEqual(15);
    expect(isRouterNetnsOf(r.ns, '198.18.0.1')).toBe(true);
    expect(isRouterNetnsOf(r.ns, '198.18.0.2')).toBe(false);
    expect(routerNetnsName(R1.id, '198.18.0.2')).toBe('frraaaaaa-20002');
    expect(r.ports.map((p) => [p.host, p.inner, p.bridge, p.address, p.mac])).toEqual([
      ['frq-100', 'frn-100', 'frb-100', '10.1.0.1/24', gatewayMac(100)],
      ['frq-200', 'frn-200', 'frb-200', '10.2.0.1/24', gatewayMac(200)],
    ]);
    expect(gatewayMac(0x0a0b0c)).toBe('06:0a:0b:0c:00:01');
    // remote endpoints too (routed on the source node), not the unrouted network's
    expect(r.neigh.map((n) => `${n.dev} ${n.ip}`)).toEqual(['frn-100 10.1.0.2', 'frn-100 10.1.0.254', 'frn-200 10.2.0.2']);
    expect(r.transfer).toEqual({ host: 'fre-3', inner: 'fre-out', ...transferAddresses(3) });
    expect(transferAddresses(3)).toEqual({ hostIp: '169.254.0.6', innerIp: '169.254.0.7' });
    expect(transferAddresses(8191)).toEqual({ hostIp: '169.254.63.254', innerIp: '169.254.63.255' });
    expect(r.publish).toEqual([{ proto: 'tcp', hostIp: '198.18.0.1', hostPort: 8080, ip: '10.1.0.2', port: 80 }]);
    expect(infraRoutes(view())).toEqual([{ ns: 'frc-owner14', via: '10.1.0.1' }]);
  });

  it('no transfer link without egress or published ports; the router netns table drops new outbound then', () => {
    const v = view();
    const internal = { ...R1, external: false };
    v.networks.web = { ...v.networks.web, router: internal };
    v.networks.db = { ...v.networks.db, router: internal };
    delete v.containers['owner-11'];
    const r = desiredRouters(v).get(R1.id)!;
    expect(r.transfer).toBeNull();
    expect(hostTableText([r], '198.18.0.1', [])).toBeNull();
    v.containers['owner-11'] = view().containers['owner-11'];
    const p = desiredRouters(v).get(R1.id)!;
    expect(p.transfer).not.toBeNull();
    expect(routerTableText(p)).toContain('oifname "fre-out" counter drop comment "no_egress"');
  });

  it('node table: deny list, tunnel ports, cross-router drop, SNAT to the underlay, DNAT of published ports', () => {
    const r = desiredRouters(view()).get(R1.id)!;
    const t = hostTableText([r], '198.18.0.1', ['198.18.0.254', '198.18.0.2'])!;
    expect(t).toContain('elements = { 198.18.0.1, 198.18.0.2, 198.18.0.254 }');
    expect(t).toContain('iifname "fre-*" oifname "fre-*" counter drop comment "cross_router"');
    expect(t).toContain('udp dport { 4789, 6081 } counter drop comment "tunnel"');
    expect(t).toContain('ip saddr 169.254.0.0/18 oifname != "fre-*" snat to 198.18.0.1');
    expect(t).toContain('ip daddr 198.18.0.1 tcp dport 8080 dnat to 169.254.0.7:8080');
    expect(routerTableText(r)).toContain('iifname "fre-out" tcp dport 8080 dnat to 10.1.0.2:80');
    expect(routerTableText(r)).not.toContain('no_egress');
  });

  it('east-west between the own networks of the router skips conntrack; egress and published flows keep it', () => {
    const t = routerTableText(desiredRouters(view()).get(R1.id)!);
    expect(t).toMatch(/iifname "frn-\*" ip daddr \{ 10\.1\.0\.0\/24, 10\.2\.0\.0\/24 \} notrack/);
    expect(t).toContain('ct state established,related accept');
  });
});
