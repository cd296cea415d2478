import { z } from 'zod';
import { Cidr4, Ipv4, Mac } from './common.js';
import { DhcpOptions } from './meta.js';

/** The file the agent writes (atomically) for the infra container of one network. */
export const InfraConfig = z.object({
  revision: z.number().int(),
  network: z.object({
    tenant: z.string(),
    name: z.string(),
    cidr: Cidr4,
    /** The router's address on the network (DHCP option 3); null when the network is on no router. */
    gateway: Ipv4.nullable(),
    /** Classless static routes (DHCP option 121): the router's other networks via the gateway. */
    routes: z.array(z.object({ cidr: Cidr4, via: Ipv4 })).default([]),
    mtu: z.number().int(),
    /** Zone this server is authoritative for: `<network>.<tenant>.<domain>`. */
    zone: z.string(),
    domain: z.string(),
  }),
  server: z.object({ ip: Ipv4, mac: Mac, interface: z.string().default('eth0') }),
  /** false: the network's nodes configure addresses themselves; this server answers DNS only, never DHCP. */
  dhcp: z.boolean().default(true),
  leaseSeconds: z.number().int().min(60).default(3600),
  bindings: z.array(z.object({ mac: Mac, ip: Ipv4, name: z.string() })),
  /** DNS servers to forward other names to; empty = answer REFUSED for names outside the zone. */
  upstreams: z.array(z.string()).default([]),
  /** The network's own DHCP options: classless routes (121), NTP (42), more DNS servers (6), search domains (119). */
  dhcpOptions: DhcpOptions.default({}),
});
export type InfraConfig = z.infer<typeof InfraConfig>;

/** The file's text (validated first): what the agent writes and the infra container reads. */
export const infraConfigText = (config: InfraConfig): string => JSON.stringify(InfraConfig.parse(config), null, 2) + '\n';
