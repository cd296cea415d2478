import { rm, stat } from 'node:fs/promises';
import { netnsName } from '../names.js';
import { isMounted } from './mounts.js';

/** Where systemd-nspawn keeps the lock of a directory it runs (systemd's image_path_lock): one file per inode. */
export const NSPAWN_LOCKS = '/run/systemd/nspawn/locks';
/** nspawn's per-machine directory for mount propagation into the container. */
export const NSPAWN_PROPAGATE = '/run/systemd/nspawn/propagate';

/** The lock file nspawn takes for `rootfs` while it is mounted; null when it cannot be stat'ed. */
export async function nspawnLockPath(rootfs: string): Promise<string | null> {
  try {
    const s = await stat(rootfs);
    return `${NSPAWN_LOCKS}/inode-${s.dev}:${s.ino}`;
  } catch {
    return null;
  }
}

/**
 * nspawn removes its lock and its propagation directory on a clean exit; one that was SIGKILLed
 * (past its stop grace period, or by anything else) leaves both in /run, per run. Called once the
 * container's nspawn is gone and before its root is unmounted: the lock is named after the mounted
 * root's device and inode (unique while mounted), the directory after the machine (`--machine=`).
 */
export async function removeNspawnLeftovers(id: string, rootfs: string): Promise<void> {
  const lock = isMounted(rootfs) ? await nspawnLockPath(rootfs) : null;
  if (lock) await rm(lock, { force: true });
  await rm(`${NSPAWN_PROPAGATE}/${netnsName(id)}`, { recursive: true, force: true });
}
