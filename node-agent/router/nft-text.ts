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
export function routerTableText(r: RouterSpec, deny: string[] = []): string {
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
  const x = externalRules(r, deny);
  return replace(
    notrack +
      x.sets +
      x.mark +
      `  chain forward {\n    type filter hook forward priority 0; policy accept;\n` +
      `    ct state established,related accept\n    ct status dnat accept\n` +
      `    iifname "${TRANSFER_INNER}" counter drop comment "inbound"\n` +
      (r.external ? '' : `    oifname "${TRANSFER_INNER}" counter drop comment "no_egress"\n`) +
      x.forward +
      `  }\n` +
      `  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n${dnat.join('')}${x.dnat}  }\n` +
      `  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n` +
      `    oifname "${TRANSFER_INNER}" snat to ${t.innerIp}\n${x.snat}  }\n`,
  );
}

/** The mark of connections that came in over the transfer link: their replies go back that way (policy route). */
export const TRANSFER_MARK = 1;

/**
 * The external port's rules (external.ts): floating IPs DNAT to their container and SNAT its
 * traffic one to one; the rest of the egress takes this node's external address (none
 * allocated: dropped, `no_external_address`); nothing new enters from the segment but floating
 * IPs; the deny list (controller, database, nodes) is unreachable that way too. With published
 * ports as well, connections from the transfer link are marked so their replies are routed back
 * to it rather than out of the default route on the segment.
 */
function externalRules(r: RouterSpec, deny: string[]): { sets: string; mark: string; forward: string; dnat: string; snat: string } {
  const x = r.externalPort;
  if (!x) return { sets: '', mark: '', forward: '', dnat: '', snat: '' };
  const o = x.inner;
  const elems = [...new Set(deny)].sort();
  const sets = elems.length
    ? `  set deny {\n    type ipv4_addr; flags interval; auto-merge\n    elements = { ${elems.join(', ')} }\n  }\n`
    : '';
  const mark =
    `  chain pbr {\n    type filter hook prerouting priority mangle; policy accept;\n` +
    `    iifname "${TRANSFER_INNER}" ct state new ct mark set ${TRANSFER_MARK}\n` +
    `    ct mark ${TRANSFER_MARK} meta mark set ${TRANSFER_MARK}\n  }\n`;
  const forward =
    (elems.length ? `    oifname "${o}" ip daddr @deny counter drop comment "deny"\n` : '') +
    `    iifname "${o}" counter drop comment "inbound_external"\n` +
    (x.address ? '' : `    oifname "${o}" counter drop comment "no_external_address"\n`);
  const dnat = x.floating.map((f) => `    iifname "${o}" ip daddr ${f.ip} dnat to ${f.fixed}\n`).join('');
  const snat =
    x.floating.map((f) => `    oifname "${o}" ip saddr ${f.fixed} snat to ${f.ip}\n`).join('') +
    (x.address ? `    oifname "${o}" snat to ${x.address.split('/')[0]}\n` : '');
  return { sets, mark, forward, dnat, snat };
}
