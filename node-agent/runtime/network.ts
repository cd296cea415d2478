import { ifindexOf } from '../kernel/link.js';
import type { NetlinkGateway } from '../kernel/netlink.js';
import { createNetns, deleteNetns, linksUp } from '../kernel/netns.js';
import { createVeth, deleteVeth } from '../kernel/veth.js';
import { RuntimeError } from './errors.js';
import { netnsName } from '../names.js';
import { netnsPath } from './paths.js';
import type { ContainerSpec } from './spec.js';

/**
 * The container's network before nspawn starts: its netns, one veth per interface (host end in
 * the network's bridge, eth<n> inside with the allocated MAC and the network MTU), all links up.
 * A bridge that does not exist yet (the dataplane has not applied the network) is a transient error.
 */
export async function setupNetwork(gw: NetlinkGateway, spec: ContainerSpec): Promise<void> {
  const masters: number[] = [];
  for (const i of spec.interfaces) {
    const index = await ifindexOf(gw, i.bridge);
    if (index === undefined) {
      throw new RuntimeError('BRIDGE_MISSING', 'start container', spec.name, `bridge ${i.bridge} of network ${i.network} not present yet`, true);
    }
    masters.push(index);
  }
  const ns = netnsName(spec.id);
  await createNetns(ns);
  for (const [k, i] of spec.interfaces.entries()) {
    await deleteVeth(gw, i.hostName); // a leftover of a crashed agent
    await createVeth(gw, { name: i.hostName, master: masters[k], mtu: i.mtu, peer: { name: `eth${i.ifindex}`, mac: i.mac } }, netnsPath(spec.id));
  }
  // the infra container serves DHCP, so it cannot ask for its own address: it is static
  const statics = spec.kind === 'infra' ? spec.interfaces.map((i) => ({ dev: `eth${i.ifindex}`, cidr: `${i.ip}/${i.prefix}` })) : [];
  await linksUp(ns, ['lo', ...spec.interfaces.map((i) => `eth${i.ifindex}`)], statics);
}

/** Removes the veths and the netns; absent objects are fine (teardown is idempotent). */
export async function teardownNetwork(gw: NetlinkGateway, spec: ContainerSpec): Promise<void> {
  for (const i of spec.interfaces) await deleteVeth(gw, i.hostName);
  await deleteNetns(netnsName(spec.id));
}
