import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ImageError } from './errors.js';
import { NAME_RE, payloadPath } from './ref.js';

/**
 * Every rpm call pins the database path: Debian's rpm defaults to ~/.rpmdb, and an
 * image root must carry its database at the standard place so tools inside agree.
 */
export const RPM_DBPATH = '/var/lib/rpm';
export const rpmDefines = (): string[] => ['--define', `_dbpath ${RPM_DBPATH}`];

/**
 * The per-tenant rpm root of a node: its keyring and the installed images, shared by
 * the tenant's containers. Beside (not inside) the runtime's `<stateDir>/images/`,
 * whose every subdirectory is a directory-imported image.
 */
export function tenantRoot(stateDir: string, tenant: string): string {
  if (!NAME_RE.test(tenant)) throw new ImageError('invalid_ref', `image root of tenant ${JSON.stringify(tenant)}: not a tenant name`);
  return path.join(stateDir, 'rpm-images', tenant);
}

/** Downloads wait here until verified; a dot name never collides with a tenant. */
export const incomingDir = (stateDir: string): string => path.join(stateDir, 'rpm-images', '.incoming');

/** Where an installed image version's tree and manifest are. */
export function installedPayload(root: string, name: string, version: string): { dir: string; rootfs: string; manifest: string } {
  const dir = path.join(root, payloadPath(name, version));
  return { dir, rootfs: path.join(dir, 'rootfs'), manifest: path.join(dir, 'manifest.json') };
}

/** `<stateDir>/rpm-images` is 0700: image trees (and their files' owners and modes) are no node user's business. */
export async function ensureImagesRoot(stateDir: string): Promise<void> {
  const dir = path.join(stateDir, 'rpm-images');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}
