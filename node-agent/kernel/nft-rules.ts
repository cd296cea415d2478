/**
 * The agent's two nft tables, as pure data (applied by the dataplane planner):
 *
 * `bridge freight` — anti-spoofing on the container ports the view assigns (frh-<8 of
 * container id><ifindex>, the runtime's names; the infra container's too). The rule count
 * is fixed: per-port facts live in sets keyed by iifname, so a container adds set
 * elements, never rules. Frames from a guarded port whose (iifname, MAC) is not in
 * `port_mac` are dropped first. Links the view does not name (test harness veths, a
 * runtime port of a container already gone from the view) are not guarded: the runtime
 * creates ports only from the view's endpoints.
 *
 * `inet freight` — ipsec guard: plaintext VXLAN (UDP 4789) of ipsec networks' VNIs to or
 * from ipsec peers is dropped unless it was ESP-decapsulated (input: `meta ipsec missing`)
 * or is routed through an xfrm bundle (output: `rt ipsec missing`). The xfrm policies
 * alone do not cover it: they exist only while a key is `active`, so before the first key
 * (and for a peer whose key is not yet active) plaintext would pass both ways.
 */
import { VXLAN_PORT } from '../names.js';
import type { NftFamily, NftRule, NftTable } from './nft.js';
import { codeOrder } from '../../lib/order.js';

/** Bumped whenever a rule's expression changes: the comment is the rule's identity. */
const V = 'fr1';

export interface GuardPort {
  ifname: string;
  mac: string;
  ip: string;
  /** the network's infra container port: may send DHCP replies */
  dhcpServer: boolean;
}

export const SPOOF_COUNTERS = ['spoof_mac', 'ipv6', 'ethertype', 'spoof_arp', 'spoof_ip', 'rogue_dhcp'] as const;
export const IPSEC_COUNTERS = ['ipsec_plain_in', 'ipsec_plain_out'] as const;

type Expr = Record<string, unknown>;
const meta = (key: string): Expr => ({ meta: { key } });
const pl = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const cmp = (left: Expr, op: '==' | '!=', right: unknown): Expr => ({ match: { op, left, right } });
const iifPlus = (e: Expr): Expr => ({ concat: [meta('iifname'), e] });
const drop = (counter: string): Expr[] => [{ counter }, { drop: null }];
const rule = (chain: string, name: string, expr: Expr[]): NftRule => ({ chain, comment: `${V} ${name}`, expr });

function spoofRules(): NftRule[] {
  const g = 'guard';
  return [
    rule('prerouting', 'ports', [cmp(meta('iifname'), '==', '@ports'), { jump: { target: g } }]),
    rule(g, 'mac', [cmp(iifPlus(pl('ether', 'saddr')), '!=', '@port_mac'), ...drop('spoof_mac')]),
    rule(g, 'ipv6', [cmp(pl('ether', 'type'), '==', 'ip6'), ...drop('ipv6')]),
    // VLAN tags, PPPoE, … would hide the IP/ARP checks: only IPv4 and ARP pass
    rule(g, 'ethertype', [cmp(pl('ether', 'type'), '!=', { set: ['ip', 'arp'] }), ...drop('ethertype')]),
    rule(g, 'arp-mac', [cmp(iifPlus(pl('arp', 'saddr ether')), '!=', '@port_mac'), ...drop('spoof_arp')]),
    // sender IP 0.0.0.0: ARP probes (RFC 5227) of DHCP clients checking their lease
    rule(g, 'arp-ip', [
      cmp(pl('arp', 'saddr ip'), '!=', '0.0.0.0'),
      cmp(iifPlus(pl('arp', 'saddr ip')), '!=', '@port_ip'),
      ...drop('spoof_arp'),
    ]),
    rule(g, 'arp', [cmp(pl('ether', 'type'), '==', 'arp'), { accept: null }]),
    rule(g, 'dhcp-client', [
      cmp(pl('ip', 'saddr'), '==', '0.0.0.0'),
      cmp(pl('udp', 'sport'), '==', 68),
      cmp(pl('udp', 'dport'), '==', 67),
      { accept: null },
    ]),
    rule(g, 'ip', [cmp(iifPlus(pl('ip', 'saddr')), '!=', '@port_ip'), ...drop('spoof_ip')]),
    rule(g, 'dhcp-server', [
      cmp(pl('udp', 'sport'), '==', 67),
      cmp(pl('udp', 'dport'), '==', 68),
      cmp(meta('iifname'), '!=', '@dhcp_servers'),
      ...drop('rogue_dhcp'),
    ]),
  ];
}

/** `bridge freight` for these local ports. */
export function spoofGuardTable(ports: GuardPort[]): NftTable {
  const sorted = [...ports].sort((a, b) => codeOrder(a.ifname, b.ifname));
  return {
    family: 'bridge',
    counters: [...SPOOF_COUNTERS],
    sets: [
      { name: 'ports', type: 'ifname', elems: sorted.map((p) => p.ifname) },
      { name: 'port_mac', type: ['ifname', 'ether_addr'], elems: sorted.map((p) => `${p.ifname} . ${p.mac}`) },
      { name: 'port_ip', type: ['ifname', 'ipv4_addr'], elems: sorted.map((p) => `${p.ifname} . ${p.ip}`) },
      { name: 'dhcp_servers', type: 'ifname', elems: sorted.filter((p) => p.dhcpServer).map((p) => p.ifname) },
    ],
    // before the bridge's own forwarding and local delivery (priority filter - 200 = -200)
    chains: [{ name: 'prerouting', hook: 'prerouting', prio: -200 }, { name: 'guard' }],
    rules: spoofRules(),
  };
}

/** `inet freight` guarding the VXLAN traffic of these VNIs with these peers. */
export function ipsecGuardTable(peers: string[], vnis: number[], port = VXLAN_PORT): NftTable {
  const vs = [...new Set(vnis)].sort((a, b) => a - b);
  // the VNI is the 24 bits after the 4 flag bytes of the VXLAN header (transport header + 8 + 4 bytes)
  const vni = cmp({ payload: { base: 'th', offset: 96, len: 24 } }, '==', vs.length === 1 ? vs[0] : { set: vs });
  const dport = cmp(pl('udp', 'dport'), '==', port);
  const tag = `vni ${vs.join(',')}`;
  return {
    family: 'inet' satisfies NftFamily,
    counters: [...IPSEC_COUNTERS],
    sets: [{ name: 'ipsec_peers', type: 'ipv4_addr', elems: [...new Set(peers)].sort() }],
    chains: [
      { name: 'input', hook: 'input', prio: 0 },
      { name: 'output', hook: 'output', prio: 0 },
    ],
    rules: [
      rule('input', `ipsec-in ${tag}`, [
        dport,
        cmp(pl('ip', 'saddr'), '==', '@ipsec_peers'),
        vni,
        cmp(meta('ipsec'), '==', false),
        ...drop('ipsec_plain_in'),
      ]),
      rule('output', `ipsec-out ${tag}`, [
        dport,
        cmp(pl('ip', 'daddr'), '==', '@ipsec_peers'),
        vni,
        cmp({ rt: { key: 'ipsec' } }, '==', false),
        ...drop('ipsec_plain_out'),
      ]),
    ],
  };
}
