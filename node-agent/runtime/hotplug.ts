import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { inCidr, isIp4, parseCidr, parseIp } from '../../protocol/addr.js';
import { ifindexOf } from '../kernel/link.js';
import type { NetlinkGateway } from '../kernel/netlink.js';
import { linksUp, netnsFile } from '../kernel/netns.js';
import { createVeth, deleteVeth } from '../kernel/veth.js';
import { netnsName } from '../names.js';
import { RuntimeError } from './errors.js';
import type { ContainerSpec, InterfaceSpec } from './spec.js';

const run = promisify(execFile);

/**
 * Interfaces plugged into and unplugged from a running container (`container attach|detach`,
 * docker network connect/disconnect). The container keeps running: the veth is made with its peer
 * `eth<n>` directly in the container's netns `frc-<8>` (as root of the node, which owns every
 * namespace), the host end in the network's bridge; unplugging deletes the host end and the peer
 * goes with it.
 */

/** What changed between two interface lists: pure plugs and unplugs, or null when one changed in place. */
export function interfaceChange(from: InterfaceSpec[], to: InterfaceSpec[]): { add: InterfaceSpec[]; remove: InterfaceSpec[] } | null {
  const same = (a: InterfaceSpec, b: InterfaceSpec) => JSON.stringify(a) === JSON.stringify(b);
  // the same interface on the same network with other settings (MTU, gateway): not a plug
  for (const a of from) if (to.some((b) => b.ifindex === a.ifindex && b.network === a.network && !same(a, b))) return null;
  return { add: to.filter((b) => !from.some((a) => same(a, b))), remove: from.filter((a) => !to.some((b) => same(a, b))) };
}

/** Removes the interface from the running container (absent is fine). */
export async function unplugInterface(gw: NetlinkGateway, i: InterfaceSpec): Promise<void> {
  await deleteVeth(gw, i.hostName);
}

/**
 * Plugs the interface into the running container and brings it up; a --no-dhcp network's
 * address is set here, as at start (no default route: the container has its own already).
 */
export async function plugInterface(gw: NetlinkGateway, spec: ContainerSpec, i: InterfaceSpec): Promise<void> {
  const ns = netnsName(spec.id);
  if (!existsSync(netnsFile(ns))) throw new RuntimeError('nspawn_failed', 'attach network to', spec.name, `netns ${ns} not present`);
  const master = await ifindexOf(gw, i.bridge);
  if (master === undefined)
    throw new RuntimeError(
      'bridge_missing',
      'attach network to',
      spec.name,
      `bridge ${i.bridge} of network ${i.network} not present yet`,
      true,
    );
  await deleteVeth(gw, i.hostName); // a leftover of an interrupted plug
  await createVeth(gw, { name: i.hostName, master, mtu: i.mtu, peer: { name: `eth${i.ifindex}`, mac: i.mac } }, netnsFile(ns));
  await linksUp(ns, [`eth${i.ifindex}`], i.static ? [{ dev: `eth${i.ifindex}`, cidr: `${i.ip}/${i.prefix}` }] : []);
}

// prints only what the agent reads; runs in the node's mount namespace, so it must touch no file
const HOOK = '#!/bin/sh\ncase "$1" in bound|renew) printf \'freight-dhcp %s %s\\n\' "$ip" "$mask" ;; esac\nexit 0\n';

/**
 * The container's own DHCP client was started for the interfaces it had at start; a plugged one
 * gets one DHCP exchange from the node: busybox udhcpc in the container's netns only (the node's
 * binary and mount namespace, a hook that only prints), then the answered address is set on the
 * interface. It must lie in the network (an answer is data from the network, like any packet).
 * Returns the address/prefix set.
 */
export async function dhcpInterface(stateDir: string, spec: ContainerSpec, i: InterfaceSpec, network: string): Promise<string> {
  const hook = `${stateDir}/udhcpc-hook.sh`;
  if (!existsSync(hook)) await writeFileAtomic(hook, HOOK, 0o700);
  const ns = netnsName(spec.id);
  const dev = `eth${i.ifindex}`;
  let out: string;
  try {
    ({ stdout: out } = await run(
      'nsenter',
      [`--net=${netnsFile(ns)}`, '--', 'busybox', 'udhcpc', '-i', dev, '-f', '-q', '-n', '-t', '20', '-T', '1', '-A', '1', '-s', hook],
      { timeout: 40_000 },
    ));
  } catch (e) {
    throw new RuntimeError('dhcp_failed', 'attach network to', spec.name, `${dev}: no DHCP answer on network ${network}`, true, {
      cause: e,
    });
  }
  const m = /^freight-dhcp (\S+) (\d{1,2})$/m.exec(out);
  const cidr = parseCidr(`${i.ip}/${i.prefix}`);
  const ip = m?.[1] ?? '';
  if (!m || !isIp4(ip) || Number(m[2]) !== i.prefix || !cidr || !inCidr(parseIp(ip)!, cidr))
    throw new RuntimeError(
      'dhcp_failed',
      'attach network to',
      spec.name,
      `${dev}: DHCP answered ${JSON.stringify(m?.[0] ?? out.slice(0, 80))}`,
    );
  await linksUp(ns, [dev], [{ dev, cidr: `${ip}/${i.prefix}` }]);
  return `${ip}/${i.prefix}`;
}

/**
 * The DHCP exchange of a plugged interface, outside the runtime's serial queue (a slow answer holds
 * up no other container); the outcome is logged. At the plug and at every start of the container.
 */
export function dhcpInBackground(stateDir: string, log: Logger, spec: ContainerSpec, i: InterfaceSpec): void {
  const at = { container: spec.id, name: spec.name, ifname: `eth${i.ifindex}` };
  void dhcpInterface(stateDir, spec, i, i.network).then(
    (cidr) => log.info({ ...at, cidr }, 'plugged interface configured by DHCP'),
    (err: unknown) => log.warn({ ...at, err }, 'plugged interface got no DHCP address'),
  );
}
