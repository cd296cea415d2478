/**
 * The router's NAT and guard rules as nft text (`nft -f`), in tables of their own (`ip
 * freight_router`, on the node and inside each router netns), apart from the anti-spoofing and
 * security-group tables. Each text replaces its table atomically (add, delete, define in one
 * transaction): conntrack entries, and so established flows and their NAT, survive it.
 */
import { TRANSFER_BASE, TRANSFER_INNER, VXLAN_PORT, GENEVE_PORT } from '../names.js';
import type { RouterSpec } from './desired.js';
import { intToIp4, mask4, parseCidr4 } from '../../protocol/addr.js';

export const ROUTER_TABLE = 'freight_router';
const TRANSFER_CIDR = `${TRANSFER_BASE}/18`;

const replace = (body: string): string =>
  `add table ip ${ROUTER_TABLE}\ndelete table ip ${ROUTER_TABLE}\ntable ip ${ROUTER_TABLE} {\n${body}}\n`;
export const dropTableText = `add table ip ${ROUTER_TABLE}\ndelete table ip ${ROUTER_TABLE}\n`;

/**
 * On the node: tenant traffic from the routers' transfer links never reaches the node itself
 * (agent, infra sockets), another router, the deny list (controller, database, other nodes) or
 * a tunnel port; what leaves is source-NATed to the underlay address; published ports DNAT to
 * the router that hosts the container.
 */
export function hostTableText(routers: RouterSpec[], underlayIp: string, deny: string[]): string | null {
  const linked = routers.filter((r) => r.transfer);
  if (linked.length === 0) return null;
  const elems = [...new Set([underlayIp, ...deny])].sort();
  const dnat = linked.flatMap((r) =>
    r.publish.map((p) => `    ip daddr ${p.hostIp} ${p.proto} dport ${p.hostPort} dnat to ${r.transfer!.innerIp}:${p.hostPort}\n`),
  );
  return replace(
    `  set deny {\n    type ipv4_addr; flags interval; auto-merge\n    elements = { ${elems.join(', ')} }\n  }\n` +
      `  chain forward {\n    type filter hook forward priority -5; policy accept;\n` +
      `    iifname "fre-*" oifname "fre-*" counter drop comment "cross_router"\n` +
      `    iifname "fre-*" ip daddr @deny counter drop comment "deny"\n` +
      `    iifname "fre-*" udp dport { ${VXLAN_PORT}, ${GENEVE_PORT} } counter drop comment "tunnel"\n  }\n` +
      `  chain input {\n    type filter hook input priority -5; policy accept;\n` +
      `    iifname "fre-*" counter drop comment "node"\n  }\n` +
      `  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n` +
      `    iifname "fre-*" return\n${dnat.join('')}  }\n` +
      `  chain output {\n    type nat hook output priority -100; policy accept;\n${dnat.join('')}  }\n` +
      `  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n` +
      `    ip saddr ${TRANSFER_CIDR} oifname != "fre-*" snat to ${underlayIp}\n  }\n`,
  );
}

/**
 * Inside a router netns: nothing enters from the node side but replies and published ports;
 * without `external`, nothing new leaves either; outbound traffic takes the transfer address.
 */
export function routerTableText(r: RouterSpec): string {
  const t = r.transfer;
  if (!t) return dropTableText;
  const dnat = r.publish.map((p) => `    iifname "${TRANSFER_INNER}" ${p.proto} dport ${p.hostPort} dnat to ${p.ip}:${p.port}\n`);
  // East-west between the router's own networks needs no state (nothing here filters or NATs
  // it) and conntrack cost it ~10% of its throughput (bench/routing); egress, published ports
  // and their replies (other destinations, or in from fre-out) stay tracked.
  const nets = r.ports.map((p) => {
    const { addr, prefix } = parseCidr4(p.address);
    return `${intToIp4((addr & mask4(prefix)) >>> 0)}/${prefix}`;
  });
  const notrack = nets.length
    ? `  chain raw {\n    type filter hook prerouting priority raw; policy accept;\n` +
      `    iifname "frn-*" ip daddr { ${nets.join(', ')} } notrack\n  }\n`
    : '';
  return replace(
    notrack +
      `  chain forward {\n    type filter hook forward priority 0; policy accept;\n` +
      `    ct state established,related accept\n    ct status dnat accept\n` +
      `    iifname "${TRANSFER_INNER}" counter drop comment "inbound"\n` +
      (r.external ? '' : `    oifname "${TRANSFER_INNER}" counter drop comment "no_egress"\n`) +
      `  }\n` +
      `  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n${dnat.join('')}  }\n` +
      `  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n` +
      `    oifname "${TRANSFER_INNER}" snat to ${t.innerIp}\n  }\n`,
  );
}
