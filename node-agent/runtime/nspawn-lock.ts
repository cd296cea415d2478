import { rm, stat } from 'node:fs/promises';

/** Where systemd-nspawn keeps the lock of a directory it runs (systemd's image_path_lock): one file per inode. */
export const NSPAWN_LOCKS = '/run/systemd/nspawn/locks';
/** nspawn's per-machine directory for mount propagation into the container, removed on a clean exit. */
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
 * nspawn unlinks its lock on a clean exit; one that was SIGKILLed (past its stop grace period, or by
 * anything else) leaves a file in /run per run. Called once the container's nspawn is gone and
 * before its root is unmounted (the name is the mounted root's device and inode, unique while mounted).
 */
export async function removeNspawnLock(rootfs: string): Promise<void> {
  const file = await nspawnLockPath(rootfs);
  if (file) await rm(file, { force: true });
}

/** The same for its propagation directory, named after the machine (`--machine=`, an agent-made name). */
export async function removeNspawnPropagate(machine: string): Promise<void> {
  if (!/^[a-z0-9-]+$/.test(machine)) return; // never a path: the name is ours, checked anyway
  await rm(`${NSPAWN_PROPAGATE}/${machine}`, { recursive: true, force: true });
}
