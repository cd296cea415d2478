import { mkdir } from 'node:fs/promises';
import { overlayOptions } from '../../images/layers.js';
import { installedImages } from '../../images/install.js';
import { pullImage, type PullResult, type TenantRepo } from '../../images/pull.js';
import { run } from '../../images/exec.js';
import { ImageError } from '../../images/errors.js';
import { outdated, type ContainerImage, type Outdated } from '../../images/resolve.js';
import { tenantRoot } from '../../images/rpmroot.js';

/**
 * The runtime's side of RPM images. A container whose tenant has image
 * repositories gets its root from here instead of `<stateDir>/images/<name>/`:
 *   1. ensureRpmImage → the image installed (verified) in the tenant's rpm root, with its layers;
 *   2. mountImageRoot → overlayfs of those layers + the container's writable upper at `merged`;
 *   3. systemd-nspawn --directory=merged …; on stop/delete unmountImageRoot(merged).
 * Upgrading = a new spec generation with another `NAME:VERSION`: stop, unmount, ensure, mount, start;
 * the container keeps its id, so its endpoints (addresses, MAC) are unchanged.
 */
export interface EnsureOptions {
  stateDir: string;
  tenant: string;
  /** `NAME[:VERSION]` as the view gives it; the controller pins the version at create/upgrade time. */
  image: string;
  repos: TenantRepo[];
  onInstall?: (name: string, version: string) => void;
}

export async function ensureRpmImage(opts: EnsureOptions): Promise<PullResult> {
  return pullImage({
    stateDir: opts.stateDir,
    tenant: opts.tenant,
    ref: opts.image,
    repos: opts.repos,
    onInstall: (i) => opts.onInstall?.(i.name, i.version),
  });
}

export interface RootPaths {
  upper: string;
  work: string;
  merged: string;
}

/** Mounts the container's root: read-only image layers (shared) under its own writable upper directory. */
export async function mountImageRoot(lowerdirs: string[], paths: RootPaths): Promise<void> {
  for (const d of [paths.upper, paths.work, paths.merged]) await mkdir(d, { recursive: true });
  const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', overlayOptions(lowerdirs, paths.upper, paths.work), paths.merged]);
  if (r.code !== 0) throw new ImageError('command_failed', `mount image root ${paths.merged}: ${r.stderr.trim()}`);
}

/** Unmounts a container root; already unmounted is fine (stop and delete both call it). */
export async function unmountImageRoot(merged: string): Promise<void> {
  const r = await run('umount', [merged]);
  if (r.code !== 0 && !/not mounted|no mount point|not found/i.test(r.stderr)) {
    throw new ImageError('command_failed', `unmount image root ${merged}: ${r.stderr.trim()}`);
  }
}

/** The node's own outdated check: installed versions from the tenant's rpm database against the repositories' index. */
export async function installedVersions(stateDir: string, tenant: string): Promise<string[]> {
  return (await installedImages(tenantRoot(stateDir, tenant))).map((i) => `${i.name}:${i.version}`).sort();
}

export { outdated, type ContainerImage, type Outdated };
