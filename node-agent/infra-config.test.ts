import { describe, expect, it } from 'vitest';
import { buildInfraConfig } from './infra-config.js';
import type { NodeView } from '../protocol/view.js';
import { InfraConfig } from '../protocol/infra-config.js';

const view: NodeView = {
  node: 'n1',
  underlayIp: '198.18.0.1',
  revision: 42,
  networks: {
    net1: {
      id: 'net1',
      tenant: 'acme',
      name: 'web',
      type: 'vxlan',
      vni: 100,
      cidr: '10.0.0.0/24',
      gateway: null,
      mtu: 1450,
      domain: 'freight.internal',
      flood: ['198.18.0.2'],
    },
    net2: {
      id: 'net2',
      tenant: 'acme',
      name: 'db',
      type: 'vxlan',
      vni: 101,
      cidr: '10.1.0.0/24',
      gateway: '10.1.0.1',
      mtu: 1450,
      domain: 'freight.internal',
      flood: [],
    },
  },
  endpoints: {
    i1: {
      id: 'i1',
      network: 'net1',
      kind: 'infra',
      owner: 'infra1',
      name: 'infra',
      mac: '02:00:0a:00:00:fe',
      ip: '10.0.0.254',
      node: 'n1',
      vtep: '198.18.0.1',
      ifindex: 0,
    },
    e2: {
      id: 'e2',
      network: 'net1',
      kind: 'container',
      owner: 'c2',
      name: 'b',
      mac: '02:00:0a:00:00:03',
      ip: '10.0.0.3',
      node: 'n2',
      vtep: '198.18.0.2',
      ifindex: 0,
    },
    e1: {
      id: 'e1',
      network: 'net1',
      kind: 'container',
      owner: 'c1',
      name: 'a',
      mac: '02:00:0a:00:00:02',
      ip: '10.0.0.2',
      node: 'n1',
      vtep: '198.18.0.1',
      ifindex: 0,
    },
    e3: {
      id: 'e3',
      network: 'net2',
      kind: 'container',
      owner: 'c1',
      name: 'a',
      mac: '02:00:0a:01:00:02',
      ip: '10.1.0.2',
      node: 'n1',
      vtep: '198.18.0.1',
      ifindex: 1,
    },
  },
  containers: {
    infra1: {
      id: 'infra1',
      tenant: 'acme',
      name: 'infra-web',
      kind: 'infra',
      image: 'freight-infra',
      command: [],
      boot: false,
      restart: 'always',
      desired: 'running',
      generation: 1,
    },
  },
  keys: {},
};

describe('buildInfraConfig', () => {
  it('binds every container endpoint of the network, local and remote, and nothing of other networks', () => {
    const cfg = buildInfraConfig(view, view.containers.infra1)!;
    expect(InfraConfig.parse(cfg)).toBeTruthy();
    expect(cfg.bindings).toEqual([
      { mac: '02:00:0a:00:00:02', ip: '10.0.0.2', name: 'a' },
      { mac: '02:00:0a:00:00:03', ip: '10.0.0.3', name: 'b' },
    ]);
    expect(cfg.server).toEqual({ ip: '10.0.0.254', mac: '02:00:0a:00:00:fe', interface: 'eth0' });
    expect(cfg.network.zone).toBe('web.acme.freight.internal');
    expect(cfg.network.mtu).toBe(1450);
    expect(cfg.revision).toBe(42);
  });
  it('returns null when the infra endpoint is not in the view yet', () => {
    const { i1: _drop, ...rest } = view.endpoints;
    expect(buildInfraConfig({ ...view, endpoints: rest }, view.containers.infra1)).toBeNull();
  });
});
