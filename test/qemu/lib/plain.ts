/**
 * A stand-in dataplane built with plain `ip`/`bridge` commands: what the agent
 * installs for one network (bridge, tunnel with learning off, static FDB to the
 * remote VTEPs, flood entries, ESP transport mode for ipsec). It proves the
 * runner and the kernel features until node-agent/dataplane lands.
 */
import type { Batch } from './ns.js';
import type { Container, Node } from './topo.js';

export type NetType = 'vxlan' | 'geneve' | 'ipsec';

export interface PlainNetwork {
  type: NetType;
  vni: number;
  containers: Container[];
}

export function tunnelName(type: NetType, vni: number): string {
  return type === 'geneve' ? `frg-${vni}` : `frx-${vni}`;
}

/** Queues the network on every node hosting one of its containers. */
export function installPlain(b: Batch, net: PlainNetwork): void {
  const nodes = [...new Map(net.containers.map((c) => [c.node.ns, c.node])).values()];
  for (const node of nodes) installOnNode(b, net, node, nodes.filter((n) => n !== node));
}

function installOnNode(b: Batch, net: PlainNetwork, node: Node, peers: Node[]): void {
  const ns = node.ns;
  const br = `frb-${net.vni}`;
  const tun = tunnelName(net.type, net.vni);
  b.ipCmd(ns, `link add ${br} type bridge`).ipCmd(ns, `link set ${br} up`);
  if (net.type === 'geneve') {
    if (peers.length !== 1) throw new Error(`plain geneve ${tun}: one peer only, got ${peers.length}`);
    b.ipCmd(ns, `link add ${tun} type geneve id ${net.vni} remote ${peers[0].ip}`);
  } else {
    b.ipCmd(ns, `link add ${tun} type vxlan id ${net.vni} local ${node.ip} dstport 4789 nolearning`);
  }
  b.ipCmd(ns, `link set ${tun} master ${br} up`);
  b.bridgeCmd(ns, `link set dev ${tun} learning off`);
  for (const c of net.containers) {
    if (c.node === node) b.ipCmd(ns, `link set ${c.hostIf} master ${br} up`);
    else if (net.type !== 'geneve') b.bridgeCmd(ns, `fdb add ${c.mac} dev ${tun} dst ${c.node.ip} self permanent`);
  }
  if (net.type !== 'geneve') {
    for (const p of peers) b.bridgeCmd(ns, `fdb append 00:00:00:00:00:00 dev ${tun} dst ${p.ip} self permanent`);
  }
  if (net.type === 'ipsec') for (const p of peers) pairPolicies(b, node, p);
}

const host = (n: Node) => Number(n.ip.split('.')[3]);

/** rfc4106 key (16-byte AES + 4-byte salt) for one direction and generation. TEST-ONLY keys. */
export function testKey(from: Node, to: Node, gen: number): string {
  return '0x' + `${host(from)}${host(to)}${gen}`.padStart(4, '0').repeat(10);
}

/** SPI of the SA from → to in a generation, readable in `ip xfrm state`. */
export function testSpi(from: Node, to: Node, gen: number): number {
  return 0x1000 * gen + 0x10 * host(from) + host(to);
}

function reqid(src: Node, dst: Node): number {
  return 100 + host(src) * 10 + host(dst);
}

/** ESP transport-mode policies for the tunnel's UDP between `node` and `peer`, both directions. */
function pairPolicies(b: Batch, node: Node, peer: Node): void {
  const sel = (s: Node, d: Node) => `src ${s.ip}/32 dst ${d.ip}/32 proto udp dport 4789`;
  const tmpl = (s: Node, d: Node) => `tmpl src ${s.ip} dst ${d.ip} proto esp reqid ${reqid(s, d)} mode transport`;
  b.ipCmd(node.ns, `xfrm policy add ${sel(node, peer)} dir out ${tmpl(node, peer)}`);
  b.ipCmd(node.ns, `xfrm policy add ${sel(peer, node)} dir in ${tmpl(peer, node)}`);
}

/** Queues the SA src → dst of generation `gen` in `on`'s namespace (inbound when on = dst). */
export function addSa(b: Batch, on: Node, src: Node, dst: Node, gen: number): void {
  b.ipCmd(on.ns, `xfrm state add src ${src.ip} dst ${dst.ip} proto esp spi ${testSpi(src, dst, gen)} ` +
    `reqid ${reqid(src, dst)} mode transport aead rfc4106(gcm(aes)) ${testKey(src, dst, gen)} 128`);
}

export function delSa(b: Batch, on: Node, src: Node, dst: Node, gen: number): void {
  b.ipCmd(on.ns, `xfrm state delete src ${src.ip} dst ${dst.ip} proto esp spi ${testSpi(src, dst, gen)}`);
}

/** Both directions' SAs of a generation on both nodes of a pair. */
export function pairKeys(b: Batch, x: Node, y: Node, gen: number): void {
  for (const on of [x, y]) {
    addSa(b, on, x, y, gen);
    addSa(b, on, y, x, gen);
  }
}
