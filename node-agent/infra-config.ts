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
  // a gateway only where a router answers at it; its other networks as classless routes
  const gateway = net.router ? net.gateway : null;
  const routes = gateway
    ? Object.values(view.networks)
        .filter((n) => n.router?.id === net.router!.id && n.id !== net.id)
        .map((n) => ({ cidr: n.cidr, via: gateway }))
        .sort((a, b) => (a.cidr < b.cidr ? -1 : 1))
    : [];
  return {
    revision: view.revision,
    network: {
      tenant: net.tenant,
      name: net.name,
      cidr: net.cidr,
      gateway,
      routes,
      mtu: net.mtu,
      zone: zoneOf(net),
      domain: net.domain,
    },
    server: { ip: own.ip, mac: own.mac, interface: 'eth0' },
    dhcp: net.dhcp !== false,
    leaseSeconds: 3600,
    bindings,
    // the network's own upstreams, when it has them, override the agent's flag ([] forwards nothing)
    upstreams: net.dnsUpstreams ?? upstreams,
    dhcpOptions: net.dhcpOptions ?? {},
  };
}
