import { describe, expect, it } from 'vitest';
import type { ViewContainer, ViewEndpoint, ViewNetwork } from '../../protocol/view.js';
import { planContainers, type ObservedContainer } from './planner.js';
import { specFromView } from './spec.js';
import { interfaceChange } from './hotplug.js';

/** The planner's half of container attach|detach: plugs for a running container, never a restart. */
const ctx = { state: '/var/lib/freight', projectDir: '/opt/freight', backoff: { baseMs: 100, capMs: 1000, stableMs: 5000 } };
const net = (id: string, vni: number, over: Partial<ViewNetwork> = {}): ViewNetwork => ({
  id,
  tenant: 't',
  name: id,
  type: 'vxlan',
  vni,
  cidr: `10.${vni}.0.0/24`,
  gateway: null,
  mtu: 1450,
  domain: 'd',
  flood: [],
  ...over,
});
const nets = { web: net('web', 1), db: net('db', 2) };
const c: ViewContainer = {
  id: 'aaaaaaaa-0000-0000-0000-000000000001',
  tenant: 't',
  name: 'c',
  kind: 'container',
  image: 'busybox',
  command: ['sleep', '9'],
  boot: false,
  restart: 'never',
  desired: 'running',
  generation: 1,
};
const ep = (network: string, ifindex: number): ViewEndpoint => ({
  id: `e-${network}`,
  network,
  kind: 'container',
  owner: c.id,
  name: 'c',
  mac: `02:00:00:00:00:0${ifindex + 1}`,
  ip: `10.${{ web: 1, db: 2, dmz: 3 }[network]}.0.5`,
  node: 'n-a',
  vtep: '198.18.0.1',
  ifindex,
  ...(ifindex > 0 ? { plugged: true } : {}),
});
const spec = (eps: ViewEndpoint[], n: Record<string, ViewNetwork> = nets) => specFromView(c, eps, n, ctx);
const observed = (eps: ViewEndpoint[], phase: ObservedContainer['phase'] = 'running'): Record<string, ObservedContainer> => ({
  [c.id]: { spec: spec(eps), phase, exitCode: null, exitedAt: null, backoff: 0 },
});
const plan = (eps: ViewEndpoint[], actual: Record<string, ObservedContainer>, n: Record<string, ViewNetwork> = nets) =>
  planContainers({ containers: [c], endpointsByOwner: { [c.id]: eps }, networks: n }, actual, 0, ctx).ops;

describe('hot-plugged interfaces', () => {
  it('attach on a running container: one plug of eth1, no restart', () => {
    const ops = plan([ep('web', 0), ep('db', 1)], observed([ep('web', 0)]));
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({
      op: 'plug',
      remove: [],
      add: [{ ifindex: 1, network: 'db', mac: '02:00:00:00:00:02', ip: '10.2.0.5', nodeDhcp: true }],
    });
  });

  it('the interface it was created with is left to its own DHCP client', () => {
    expect(spec([ep('web', 0)]).interfaces[0].nodeDhcp).toBe(false);
  });

  it('detach on a running container: one unplug, no restart', () => {
    const ops = plan([ep('web', 0)], observed([ep('web', 0), ep('db', 1)]));
    expect(ops).toEqual([{ op: 'plug', spec: spec([ep('web', 0)]), add: [], remove: [spec([ep('db', 1)]).interfaces[0]] }]);
  });

  it('detach then attach of another network at the same index between two plans: unplug and plug', () => {
    const other = { ...nets, dmz: net('dmz', 3) };
    const now = plan([ep('web', 0), ep('dmz', 1)], observed([ep('web', 0), ep('db', 1)]), other);
    expect(now).toHaveLength(1);
    expect(now[0]).toMatchObject({ op: 'plug', add: [{ ifindex: 1, network: 'dmz' }], remove: [{ ifindex: 1, network: 'db' }] });
  });

  it('a stopped container only records its new interfaces (it starts with them); a converged one plans nothing', () => {
    const ops = plan([ep('web', 0), ep('db', 1)], observed([ep('web', 0)], 'stopped'));
    expect(ops.map((o) => o.op)).toEqual(['update', 'start']);
    expect(plan([ep('web', 0), ep('db', 1)], observed([ep('web', 0), ep('db', 1)]))).toEqual([]);
  });

  it('a --no-dhcp network plugs with its address set by the node; the first one restarts (its resolver file is bound at start)', () => {
    const st = { ...nets, db: net('db', 2, { dhcp: false }) };
    const ops = planContainers(
      { containers: [c], endpointsByOwner: { [c.id]: [ep('web', 0), ep('db', 1)] }, networks: st, infraIps: { db: '10.2.0.254' } },
      observed([ep('web', 0)]),
      0,
      ctx,
    ).ops;
    expect(ops.map((o) => o.op)).toEqual(['restart']);
    const spec2 = specFromView(c, [ep('web', 0), ep('db', 1)], st, ctx, { db: '10.2.0.254' });
    expect(spec2.interfaces[1]).toMatchObject({ static: true, nodeDhcp: false, dns: '10.2.0.254' });
  });

  it('an interface changed in place (the MTU of its network) or another run-relevant change still restarts', () => {
    const mtu = { ...nets, web: net('web', 1, { mtu: 1400 }) };
    expect(plan([ep('web', 0)], observed([ep('web', 0)]), mtu).map((o) => o.op)).toEqual(['restart']);
    expect(interfaceChange(spec([ep('web', 0)]).interfaces, spec([ep('web', 0)], mtu).interfaces)).toBeNull();
    const gen = planContainers(
      { containers: [{ ...c, generation: 2 }], endpointsByOwner: { [c.id]: [ep('web', 0), ep('db', 1)] }, networks: nets },
      observed([ep('web', 0)]),
      0,
      ctx,
    ).ops;
    expect(gen.map((o) => o.op)).toEqual(['restart']);
  });
});
