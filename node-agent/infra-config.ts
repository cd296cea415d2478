import type { InfraConfig } from '../protocol/infra-config.js';
import type { NodeView, ViewContainer } from '../protocol/view.js';

/** The zone an infra instance is authoritative for: `<network>.<tenant>.<domain>`. */
export function zoneOf(net: { name: string; tenant: string; domain: string }): string {
  return `${net.name}.${net.tenant}.${net.domain}`;
}

/**
 * The infra config of one infra container hosted on this node, derived from the
 * node view alone: the view carries every endpoint of the network (local and
 * remote), so DHCP bindings and DNS names need nothing else.
 */
export function buildInfraConfig(view: NodeView, infra: ViewContainer, upstreams: string[] = []): InfraConfig | null {
  const own = Object.values(view.endpoints).find((e) => e.owner === infra.id && e.kind === 'infra');
  if (!own) return null;
  const net = view.networks[own.network];
  if (!net) return null;
  const bindings = Object.values(view.endpoints)
    .filter((e) => e.network === net.id && e.kind === 'container')
    .map((e) => ({ mac: e.mac, ip: e.ip, name: e.name }))
    .sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  return {
    revision: view.revision,
    network: {
      tenant: net.tenant,
      name: net.name,
      cidr: net.cidr,
      gateway: net.gateway,
      mtu: net.mtu,
      zone: zoneOf(net),
      domain: net.domain,
    },
    server: { ip: own.ip, mac: own.mac, interface: 'eth0' },
    dhcp: net.dhcp !== false,
    leaseSeconds: 3600,
    bindings,
    upstreams,
  };
}
