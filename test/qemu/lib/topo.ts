/**
 * Test topology for the kernel suites: node namespaces on one underlay (a
 * switch namespace with a bridge), "container" namespaces hanging off a node
 * by a veth. Everything is queued on a Batch; NsSet.cleanup() removes it.
 */
import type { Batch, NsSet } from './ns.js';

export interface Node {
  name: string;
  ns: string;
  /** underlay IP (198.18.0.0/15) */
  ip: string;
  /** underlay interface inside the node namespace */
  ul: string;
}

export interface Container {
  ns: string;
  node: Node;
  ip: string;
  mac: string;
  /** host end of the veth, inside the node namespace, down and unattached */
  hostIf: string;
}

export const UNDERLAY_MTU = 1500;

/** N node namespaces, each with `ul0` = 198.18.<net>.<i>/24, joined by a bridge in a switch namespace. */
export function makeUnderlay(b: Batch, nss: NsSet, count: number, net = 7): Node[] {
  const sw = nss.add(b, 'sw');
  b.ipCmd(sw, 'link add br0 type bridge').ipCmd(sw, 'link set br0 up');
  const nodes: Node[] = [];
  for (let i = 1; i <= count; i++) {
    const node: Node = { name: `node${i}`, ns: nss.add(b, `n${i}`), ip: `198.18.${net}.${i}`, ul: 'ul0' };
    b.ipCmd(undefined, `link add ul0 netns ${node.ns} type veth peer name p${i} netns ${sw}`);
    b.ipCmd(sw, `link set p${i} master br0 up`);
    b.ipCmd(node.ns, `addr add ${node.ip}/24 dev ul0`).ipCmd(node.ns, 'link set ul0 up');
    nodes.push(node);
  }
  return nodes;
}

/** A container namespace `fq<tag>c<id>` with eth0 (ip/24, mac, mtu) and host end `frh-<id>` in the node namespace. */
export function addContainer(b: Batch, nss: NsSet, node: Node, id: string, ip: string, mac: string, mtu: number): Container {
  const ns = nss.add(b, `c${id}`);
  const hostIf = `frh-${id}`;
  b.ipCmd(undefined, `link add ${hostIf} netns ${node.ns} mtu ${mtu} type veth peer name eth0 netns ${ns} mtu ${mtu}`);
  b.ipCmd(ns, `link set eth0 address ${mac} up`).ipCmd(ns, `addr add ${ip}/24 dev eth0`);
  return { ns, node, ip, mac, hostIf };
}
