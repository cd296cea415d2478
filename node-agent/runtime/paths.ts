import { join } from 'node:path';
import { netnsName, shortId } from '../names.js';

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
    /** Bound read-only to /etc/resolv.conf of containers on --no-dhcp networks. */
    resolv: join(dir, 'resolv.conf'),
    /** Bound to /etc/freight inside infra containers; the agent writes infra.json here. */
    config: join(dir, 'etc-freight'),
    /** Bound writable to /run/freight inside infra containers: their /metrics unix socket (docs/infra.md). */
    run: join(dir, 'run-freight'),
  };
}
export type ContainerPaths = ReturnType<typeof containerPaths>;

/** The container's network namespace file (its name is names.ts netnsName). */
export const netnsPath = (id: string): string => `/run/netns/${netnsName(id)}`;
/** Where nspawn itself runs and the veth peers wait until nspawn moves them into the container. */
export const stagingNetnsName = (id: string): string => `frs-${shortId(id)}`;
export const stagingNetnsPath = (id: string): string => `/run/netns/${stagingNetnsName(id)}`;
