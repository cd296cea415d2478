import { join } from 'node:path';

/** Where the runtime keeps images and containers (`--state-dir`, default /var/lib/freight). */
export const DEFAULT_STATE_DIR = '/var/lib/freight';

/** Image names are directory names: lower-case, no path separators. */
export const IMAGE_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export const imagesDir = (state: string): string => join(state, 'images');
export const imageDir = (state: string, name: string): string => join(state, 'images', name);
export const containersDir = (state: string): string => join(state, 'containers');

/** Everything of one container lives under one directory, so delete is one rm -r after unmounting. */
export function containerPaths(state: string, id: string) {
  const dir = join(state, 'containers', id);
  return {
    dir,
    state: join(dir, 'state.json'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    merged: join(dir, 'rootfs'),
    log: join(dir, 'output.log'),
    logOld: join(dir, 'output.log.1'),
    exit: join(dir, 'exit'),
    nspawnPid: join(dir, 'nspawn.pid'),
    /** Bound to /etc/freight inside infra containers; the agent writes infra.json here. */
    config: join(dir, 'etc-freight'),
  };
}
export type ContainerPaths = ReturnType<typeof containerPaths>;

/** First 8 hex digits of the container id: unique enough per node, short enough for 15-char link names. */
export function shortId(id: string): string {
  const s = id.replace(/-/g, '').toLowerCase().slice(0, 8);
  if (!/^[0-9a-z]{1,8}$/.test(s)) throw new Error(`short id of ${id}: not alphanumeric`);
  return s;
}

/** The container's network namespace, in /run/netns so `ip netns` sees it. */
export const netnsName = (id: string): string => `frc-${shortId(id)}`;
export const netnsPath = (id: string): string => `/run/netns/${netnsName(id)}`;

/** Host end of the veth for interface `ifindex` (eth<ifindex> inside): frh-<8><ifindex>, ≤ 15 chars. */
export function hostVethName(id: string, ifindex: number): string {
  if (!Number.isInteger(ifindex) || ifindex < 0 || ifindex > 999) throw new Error(`veth name for ${id}: ifindex ${ifindex} out of range`);
  return `frh-${shortId(id)}${ifindex}`;
}

export const bridgeName = (vni: number): string => `frb-${vni}`;
