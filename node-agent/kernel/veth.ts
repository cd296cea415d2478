/** veth pairs of containers: host end `frh-<8><n>` in the network bridge, peer `eth<n>` in the container netns. */
import { closeSync, openSync } from 'node:fs';
import { isNetlinkError } from './errors.js';
import { delLinkMsg, ifindexOf, newLinkMsg } from './link.js';
import { ifla, macBuf, rt, toBuf, type NetlinkGateway, type NlMsg } from './netlink.js';

const VETH_INFO_PEER = 1;

export interface VethSpec {
  /** host end, e.g. frh-1a2b3c4d0 */
  name: string;
  /** ifindex of the bridge the host end joins */
  master: number;
  mtu: number;
  peer: {
    /** name inside the container namespace: eth0, eth1 … */
    name: string;
    mac: string;
    /** fd of the container namespace (/run/netns/frc-…): the peer is created directly there */
    netNsFd: number;
  };
}

/**
 * One RTM_NEWLINK creating both ends with MTU: the host end enslaved to the bridge and up, the peer
 * born inside the container namespace with its name and MAC (VETH_INFO_PEER = ifinfomsg + link
 * attributes). The peer is set up afterwards from inside the namespace (netns.ts linksUp).
 */
export function createVethMsg(v: VethSpec): NlMsg {
  const peerAttrs = toBuf(ifla.formatLinkAttrs({ ifname: v.peer.name, mtu: v.mtu, address: macBuf(v.peer.mac), netNsFd: v.peer.netNsFd }));
  // not up here: the kernel refuses to open a peer before the pair is linked (ENOTCONN)
  const peer = Buffer.concat([rt.formatLink({}), peerAttrs]);
  const msg = newLinkMsg({
    ifname: v.name,
    kind: 'veth',
    data: (out) => out.push(VETH_INFO_PEER, peer),
    mtu: v.mtu,
    master: v.master,
    up: true,
  });
  return { ...msg, op: 'create veth' };
}

/** Creates the pair with the peer inside the namespace mounted at `netnsPath`. */
export async function createVeth(
  gw: NetlinkGateway,
  v: Omit<VethSpec, 'peer'> & { peer: { name: string; mac: string } },
  netnsPath: string,
): Promise<void> {
  const fd = openSync(netnsPath, 'r');
  try {
    await gw.request(createVethMsg({ ...v, peer: { ...v.peer, netNsFd: fd } }));
  } finally {
    closeSync(fd);
  }
}

/** Deletes a veth by its host end (the peer goes with it); absent is fine. */
export async function deleteVeth(gw: NetlinkGateway, name: string): Promise<boolean> {
  const index = await ifindexOf(gw, name);
  if (index === undefined) return false;
  try {
    await gw.request(delLinkMsg(index, name, 'veth'));
    return true;
  } catch (e) {
    if (isNetlinkError(e, 'no_device')) return false;
    throw e;
  }
}
