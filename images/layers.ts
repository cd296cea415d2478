import { ImageError } from './errors.js';
import { readInstalledManifest } from './install.js';
import type { Manifest } from './manifest.js';
import { assertRealDirs } from './nofollow.js';
import { installedPayload } from './rpmroot.js';

const MAX_DEPTH = 16;

export interface Layers {
  manifest: Manifest;
  /** overlayfs lowerdir order: the image itself first (top), its base last (bottom). */
  lowerdirs: string[];
}

/**
 * Follows an installed image's base chain; each layer is a read-only rootfs shared by all
 * containers, checked to be a real directory inside the tenant root (no symlink on the way).
 */
export async function imageLayers(root: string, name: string, version: string): Promise<Layers> {
  const manifest = await readInstalledManifest(root, name, version);
  const lowerdirs: string[] = [];
  const seen = new Set<string>();
  let cur: Manifest | undefined = manifest;
  while (cur) {
    const key = `${cur.name}:${cur.version}`;
    if (seen.has(key) || seen.size >= MAX_DEPTH)
      throw new ImageError('invalid_manifest', `layer image ${name}:${version}: base chain loops or is deeper than ${MAX_DEPTH} at ${key}`);
    seen.add(key);
    // the lower layer must be the payload's own directory: a symlinked rootfs would mount the node's files
    const rootfs = installedPayload(root, cur.name, cur.version).rootfs;
    await assertRealDirs(root, rootfs, `layer image ${name}:${version}`);
    lowerdirs.push(rootfs);
    cur = cur.base ? await readInstalledManifest(root, cur.base.name, cur.base.version) : undefined;
  }
  return { manifest, lowerdirs };
}

/** The overlayfs mount options for a container's writable layer over an image's layers. */
export function overlayOptions(lowerdirs: string[], upperdir: string, workdir: string): string {
  // ':' and ',' separate overlay options; escape them in paths as the kernel expects
  const esc = (p: string) => p.replace(/([\\:,])/g, '\\$1');
  return `lowerdir=${lowerdirs.map(esc).join(':')},upperdir=${esc(upperdir)},workdir=${esc(workdir)}`;
}
