import { hostRange, ip4ToInt } from '../protocol/addr.js';
import type { DhcpOptions } from '../protocol/meta.js';
import { ApiError } from './errors.js';

/** A classless route's gateway must be reachable on the link: a host address of the network. */
export function checkDhcpOptions(cidr: string, dhcp: DhcpOptions | undefined, op: string): void {
  const r = hostRange(cidr);
  (dhcp?.routes ?? []).forEach((route, i) => {
    const gw = ip4ToInt(route.gateway);
    if (gw < r.first || gw > r.last) {
      const path = `dhcpOptions.routes.${i}.gateway`;
      throw new ApiError('invalid', `${op}: route gateway ${route.gateway} is not a host address of ${cidr}`, path);
    }
  });
}
