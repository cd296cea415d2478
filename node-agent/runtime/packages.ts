import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { imageLayers } from '../../images/layers.js';
import { readPackages, type ReadPackagesResult } from '../../images/packages.js';
import { parseImageRef } from '../../images/ref.js';
import { ensureImagesRoot, incomingDir, RPM_DBPATH, tenantRoot } from '../../images/rpmroot.js';
import { isMounted } from './mounts.js';
import { containerPaths, imageDir } from './paths.js';
import type { ContainerSpec } from './spec.js';

/**
 * The root whose rpm database says what a container is made of. An RPM image: the topmost of
 * its installed layers with a database (shared, read-only, the image as signed), never the
 * container's upper layer: after an upgrade the files nspawn's chown copied up as metadata only
 * (metacopy) would pair the old version's sizes with the new version's data. A directory image:
 * its mounted root while it runs, else the image directory.
 */
export async function packagesRoot(stateDir: string, spec: ContainerSpec): Promise<string> {
  if (!spec.imageSource) {
    const merged = containerPaths(stateDir, spec.id).merged;
    return isMounted(merged) ? merged : imageDir(stateDir, spec.image);
  }
  const ref = parseImageRef(spec.image);
  const { lowerdirs } = await imageLayers(tenantRoot(stateDir, spec.tenant), ref.name, ref.version ?? '');
  for (const dir of lowerdirs) {
    const s = await lstat(path.join(dir, RPM_DBPATH)).catch(() => undefined);
    if (s?.isDirectory()) return dir;
  }
  return lowerdirs[0];
}

/** The container's components (images/packages.ts: copied out without following links, capped, nothing run). */
export async function containerPackages(stateDir: string, spec: ContainerSpec): Promise<ReadPackagesResult> {
  await ensureImagesRoot(stateDir);
  return readPackages(await packagesRoot(stateDir, spec), incomingDir(stateDir));
}
