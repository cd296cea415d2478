import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ifindexOf } from '../kernel/link.js';
import type { NetlinkGateway } from '../kernel/netlink.js';
import { createNetns, deleteNetns, linksUp, netnsExists } from '../kernel/netns.js';
import { createVeth, deleteVeth } from '../kernel/veth.js';
import { RuntimeError } from './errors.js';
import { netnsName } from '../names.js';
import { stagingNetnsName, stagingNetnsPath } from './paths.js';
import { children, isAlive } from './proc.js';
import type { ContainerSpec } from './spec.js';

const run = promisify(execFile);

/**
 * Before nspawn starts: the staging netns `frs-<8>` (where nspawn itself will run) with one veth
 * peer `eth<n>` per interface (allocated MAC, network MTU), the host end `frh-<8><n>` in the network's
 * bridge. nspawn moves the peers into the container's own netns (created in its user namespace)
 * before the payload runs. A bridge that does not exist yet is a transient error.
 */
export async function setupNetwork(gw: NetlinkGateway, spec: ContainerSpec): Promise<void> {
  const masters: number[] = [];
  for (const i of spec.interfaces) {
    const index = await ifindexOf(gw, i.bridge);
    if (index === undefined) {
      throw new RuntimeError(
        'bridge_missing',
        'start container',
        spec.name,
        `bridge ${i.bridge} of network ${i.network} not present yet`,
        true,
      );
    }
    masters.push(index);
  }
  await deleteNetns(netnsName(spec.id)); // a leftover of a crashed agent: the name must be the new container's
  await deleteNetns(stagingNetnsName(spec.id));
  await createNetns(stagingNetnsName(spec.id));
  for (const [k, i] of spec.interfaces.entries()) {
    await deleteVeth(gw, i.hostName);
    await createVeth(
      gw,
      { name: i.hostName, master: masters[k], mtu: i.mtu, peer: { name: `eth${i.ifindex}`, mac: i.mac } },
      stagingNetnsPath(spec.id),
    );
  }
}

/** The identity map of the initial user namespace: a process showing it is not in a container. */
const IDENTITY = /^\s*0\s+0\s+4294967295\s*$/;

/** The host uid that root of the process's user namespace maps to, or null outside one. */
export function hostRootUid(pid: number): number | null {
  let map: string;
  try {
    map = readFileSync(`/proc/${pid}/uid_map`, 'utf8');
  } catch {
    return null;
  }
  if (IDENTITY.test(map)) return null;
  const first = map.trim().split(/\s+/).map(Number);
  return first[0] === 0 ? first[1] : null;
}

const netnsInode = (pid: number | 'self'): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return null;
  }
};

/**
 * After nspawn started: names the container's own netns `frc-<8>` in /run/netns (so `ip netns`,
 * the tests and an agent restarted later find it), sets its links up and the infra container's
 * static addresses (a moved link arrives down and without addresses). The container is nspawn's
 * child in a user namespace (non-identity uid_map) in another netns than nspawn's: found by that,
 * never by a name, so a wrong pid can never name the host's namespace. Returns false when nspawn
 * ended first (the exit is then observed and classified as usual).
 */
export async function attachNetwork(spec: ContainerSpec, nspawnPid: number, t = ATTACH_TIMEOUTS): Promise<boolean> {
  // before the container process exists nspawn may be chowning a whole tree into its uid range
  let deadline = Date.now() + t.chownMs;
  let found = false;
  const ns = netnsName(spec.id);
  const wanted = spec.interfaces.map((i) => `eth${i.ifindex}`);
  for (;;) {
    if (!isAlive(nspawnPid)) return false;
    const pid = containerPid(nspawnPid);
    if (pid !== null && !found) {
      found = true;
      deadline = Date.now() + t.linksMs;
    }
    if (pid !== null) {
      if (!netnsExists(ns)) {
        try {
          await ipRun('name the netns of', ns, ['netns', 'attach', ns, String(pid)]);
        } catch (e) {
          // the payload already ended (a command that does not exist): its exit says why, not this
          if (!isAlive(pid)) return false;
          throw e;
        }
      }
      const links = linksOf(pid);
      if (wanted.every((l) => links.has(l))) break;
    }
    if (Date.now() > deadline)
      throw new RuntimeError('nspawn_failed', 'start container', spec.name, 'container network namespace not ready in time');
    await sleep(5);
  }
  // the infra container's reserved address, and every interface of a --no-dhcp network (address and default route)
  const own = spec.interfaces.filter((i) => spec.kind === 'infra' || i.static);
  const statics = own.map((i) => ({ dev: `eth${i.ifindex}`, cidr: `${i.ip}/${i.prefix}` }));
  const routes = spec.kind === 'infra' ? [] : defaultRoute(spec);
  await linksUp(ns, ['lo', ...wanted], statics, routes);
  await deleteNetns(stagingNetnsName(spec.id)); // nspawn keeps it alive while it runs; the name is not needed
  return true;
}

/** The default route of a container's static interfaces: via the first one with a gateway (one default route). */
function defaultRoute(spec: ContainerSpec): Array<{ dev: string; via: string }> {
  const i = spec.interfaces.find((x) => x.static && x.gateway);
  return i ? [{ dev: `eth${i.ifindex}`, via: i.gateway! }] : [];
}

/** How long nspawn may take before the container process exists (first-start chown), and then to move the links. */
export const ATTACH_TIMEOUTS = { chownMs: 300_000, linksMs: 10_000 };

/** nspawn's child that runs in a user namespace and in a netns of its own, or null (not yet). */
export function containerPid(nspawnPid: number): number | null {
  const own = netnsInode(nspawnPid);
  for (const c of children(nspawnPid)) {
    if (hostRootUid(c) === null) continue;
    const net = netnsInode(c);
    if (net && own && net !== own && net !== netnsInode('self')) return c;
  }
  return null;
}

/** The links of the process's netns, from /proc/PID/net/dev (names before the colon). */
function linksOf(pid: number): Set<string> {
  try {
    const text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
    return new Set(
      text
        .split('\n')
        .slice(2)
        .map((l) => l.split(':')[0].trim())
        .filter(Boolean),
    );
  } catch {
    return new Set();
  }
}

async function ipRun(op: string, name: string, args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000 });
  } catch (e) {
    throw new RuntimeError('nspawn_failed', op, name, ((e as { stderr?: string }).stderr || String(e)).trim(), false, { cause: e });
  }
}

/** Removes the veths and both netns names; absent objects are fine (teardown is idempotent). */
export async function teardownNetwork(gw: NetlinkGateway, spec: ContainerSpec): Promise<void> {
  for (const i of spec.interfaces) await deleteVeth(gw, i.hostName);
  await deleteNetns(netnsName(spec.id));
  await deleteNetns(stagingNetnsName(spec.id));
}
