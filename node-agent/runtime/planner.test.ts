import { describe, expect, it } from 'vitest';
import type { ViewContainer, ViewEndpoint, ViewNetwork } from '../../protocol/view.js';
import { planContainers, desiredFromView, type ObservedContainer } from './planner.js';
import { specFromView } from './spec.js';

const ctx = { state: '/var/lib/freight', projectDir: '/opt/freight', backoff: { baseMs: 100, capMs: 1000, stableMs: 5000 } };
const net: ViewNetwork = {
  id: 'n1',
  tenant: 't',
  name: 'n',
  type: 'vxlan',
  vni: 100,
  cidr: '10.1.0.0/24',
  gateway: null,
  mtu: 1450,
  domain: 'd',
  flood: [],
};
const c = (over: Partial<ViewContainer> = {}): ViewContainer => ({
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
  ...over,
});
const ep = (owner: string, node = 'n-a'): ViewEndpoint => ({
  id: `e-${owner}`,
  network: 'n1',
  kind: 'container',
  owner,
  name: 'c',
  mac: '02:00:00:00:00:01',
  ip: '10.1.0.5',
  node,
  vtep: '198.18.0.1',
  ifindex: 0,
});
const desired = (cs: ViewContainer[]) => ({
  containers: cs,
  endpointsByOwner: Object.fromEntries(cs.map((x) => [x.id, [ep(x.id)]])),
  networks: { n1: net },
});
const observed = (x: ViewContainer, o: Partial<ObservedContainer> = {}): ObservedContainer => ({
  spec: specFromView(x, [ep(x.id)], { n1: net }, ctx),
  phase: 'running',
  exitCode: null,
  exitedAt: null,
  backoff: 0,
  ...o,
});

describe('planContainers', () => {
  it('creates and starts a new container, with its interface derived from the endpoint and network', () => {
    const { ops } = planContainers(desired([c()]), {}, 0, ctx);
    expect(ops.map((o) => o.op)).toEqual(['create', 'start']);
    const spec = ops[0].op === 'create' ? ops[0].spec : null;
    expect(spec?.interfaces).toEqual([
      {
        ifindex: 0,
        network: 'n1',
        hostName: 'frh-aaaaaaaa0',
        bridge: 'frb-100',
        mac: '02:00:00:00:00:01',
        mtu: 1450,
        ip: '10.1.0.5',
        prefix: 24,
        gateway: null,
        static: false,
        dns: null,
        search: null,
        nodeDhcp: false,
      },
    ]);
  });

  it('creates a container desired stopped without starting it', () => {
    expect(planContainers(desired([c({ desired: 'stopped' })]), {}, 0, ctx).ops.map((o) => o.op)).toEqual(['create']);
  });

  it('plans nothing for a converged state', () => {
    const x = c();
    expect(planContainers(desired([x]), { [x.id]: observed(x) }, 0, ctx)).toEqual({ ops: [], wakeAt: null });
  });

  it('deletes containers no longer in the view', () => {
    const x = c();
    expect(planContainers(desired([]), { [x.id]: observed(x) }, 0, ctx).ops).toEqual([{ op: 'delete', id: x.id }]);
  });

  it('restarts on a new generation or a changed endpoint, stops and starts on desired state', () => {
    const x = c();
    const obs = { [x.id]: observed(x) };
    expect(planContainers(desired([c({ generation: 2 })]), obs, 0, ctx).ops.map((o) => o.op)).toEqual(['restart']);
    const moved = { ...desired([x]), endpointsByOwner: { [x.id]: [{ ...ep(x.id), mac: '02:00:00:00:00:99' }] } };
    expect(planContainers(moved, obs, 0, ctx).ops.map((o) => o.op)).toEqual(['restart']);
    expect(planContainers(desired([c({ desired: 'stopped' })]), obs, 0, ctx).ops.map((o) => o.op)).toEqual(['update', 'stop']);
    const stopped = { [x.id]: observed(c({ desired: 'stopped' }), { phase: 'stopped' }) };
    expect(planContainers(desired([x]), stopped, 0, ctx).ops.map((o) => o.op)).toEqual(['update', 'start']);
  });

  it('changing only the restart policy updates the record without a restart', () => {
    const x = c();
    expect(planContainers(desired([c({ restart: 'always' })]), { [x.id]: observed(x) }, 0, ctx).ops.map((o) => o.op)).toEqual(['update']);
  });

  it('changing only the limits updates the record (the runtime writes them into the running cgroup) without a restart', () => {
    const x = c();
    const limits = { memory: 256 * 2 ** 20, cpus: 0.5, pids: 200 };
    const { ops } = planContainers(desired([c({ limits })]), { [x.id]: observed(x) }, 0, ctx);
    expect(ops.map((o) => o.op)).toEqual(['update']);
    expect(ops[0]).toMatchObject({ spec: { limits } });
  });

  it('applies the restart policy with exponential backoff', () => {
    const onFail = c({ restart: 'on-failure' });
    const exited = (code: number, backoff: number) => ({
      [onFail.id]: observed(onFail, { phase: 'exited', exitCode: code, exitedAt: 1000, backoff }),
    });
    // exit 0 is not a failure
    expect(planContainers(desired([onFail]), exited(0, 0), 5000, ctx).ops).toEqual([]);
    // exit 3: 100 ms after the exit, then 200, 400 … capped at 1000
    expect(planContainers(desired([onFail]), exited(3, 0), 1050, ctx)).toEqual({ ops: [], wakeAt: 1100 });
    expect(planContainers(desired([onFail]), exited(3, 0), 1100, ctx).ops).toEqual([{ op: 'start', id: onFail.id, cause: 'policy' }]);
    expect(planContainers(desired([onFail]), exited(3, 2), 1100, ctx).wakeAt).toBe(1400);
    expect(planContainers(desired([onFail]), exited(3, 10), 1100, ctx).wakeAt).toBe(2000);
    const never = c();
    expect(planContainers(desired([never]), { [never.id]: observed(never, { phase: 'failed', exitedAt: 0 }) }, 1e9, ctx).ops).toEqual([]);
    const always = c({ restart: 'always' });
    expect(
      planContainers(desired([always]), { [always.id]: observed(always, { phase: 'exited', exitCode: 0, exitedAt: 0 }) }, 1e9, ctx).ops[0],
    ).toMatchObject({ op: 'start', cause: 'policy' });
  });

  it('retries a pending start (bridge not there yet) whatever the policy', () => {
    const x = c();
    const obs = { [x.id]: observed(x, { phase: 'pending', exitedAt: 0 }) };
    expect(planContainers(desired([x]), obs, 100, ctx).ops).toEqual([{ op: 'start', id: x.id, cause: 'retry' }]);
  });

  it("desiredFromView keeps only this node's endpoints", () => {
    const x = c();
    const view = {
      node: 'n-a',
      underlayIp: '198.18.0.1',
      revision: 1,
      networks: { n1: net },
      keys: {},
      containers: { [x.id]: x },
      endpoints: { a: ep(x.id, 'n-a'), b: { ...ep('other', 'n-b'), id: 'b' } },
    };
    expect(desiredFromView(view).endpointsByOwner).toEqual({ [x.id]: [ep(x.id, 'n-a')] });
  });
});

describe('specFromView for infra containers', () => {
  it('binds the host /usr, the project and the config dir, and defaults the command', () => {
    const s = specFromView(c({ kind: 'infra', image: 'freight-infra', command: [] }), [], {}, ctx);
    expect(s.command).toEqual(['node', '/opt/freight/dist/infra-container/main.js', '--config', '/etc/freight/infra.json']);
    expect(s.binds).toContainEqual({ host: '/usr', container: '/usr', readOnly: true });
    expect(s.binds).toContainEqual({ host: '/opt/freight', container: '/opt/freight', readOnly: true });
    expect(s.binds).toContainEqual({ host: `/var/lib/freight/containers/${s.id}/etc-freight`, container: '/etc/freight', readOnly: true });
  });
});
