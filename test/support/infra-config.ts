import type { InfraConfig } from '../../protocol/infra-config.js';

/** A small valid config for unit tests and benches (tenant CIDR only used inside namespaces). */
export function sampleConfig(over: Partial<InfraConfig> = {}): InfraConfig {
  return {
    revision: 7,
    network: {
      tenant: 't1',
      name: 'net',
      cidr: '10.77.0.0/24',
      gateway: '10.77.0.1',
      routes: [],
      mtu: 1450,
      zone: 'net.t1.freight.internal',
      domain: 'freight.internal',
    },
    server: { ip: '10.77.0.2', mac: '02:00:00:00:00:02', interface: 'eth0' },
    leaseSeconds: 3600,
    bindings: [
      { mac: '02:00:00:00:00:10', ip: '10.77.0.10', name: 'web' },
      { mac: '02:00:00:00:00:11', ip: '10.77.0.11', name: 'db' },
    ],
    upstreams: [],
    dhcp: true,
    dhcpOptions: {},
    ...over,
  };
}
