import { installedImageKeys, readInstalledManifest } from '../../images/install.js';
import { ImageError } from '../../images/errors.js';
import { keyIdOf, sameKey } from '../../images/pgp-key.js';
import type { TenantRepo } from '../../images/pull.js';

/** The key ids of the tenant's current repositories (a key that cannot be read verifies nothing). */
export function currentKeyIds(repos: readonly TenantRepo[]): string[] {
  const ids: string[] = [];
  for (const r of repos) {
    try {
      ids.push(keyIdOf(r.publicKey));
    } catch {
      // the keyring import refuses it too
    }
  }
  return ids;
}

/**
 * An installed image version (and each base it layers over) must still be signed by one of the
 * tenant's current keys: a key removed from the tenant stops new starts of images signed only by
 * it, although they stay installed. Returns the refusal (naming the key), or null when allowed.
 */
export async function revokedKeyOf(root: string, name: string, version: string, repos: readonly TenantRepo[]): Promise<ImageError | null> {
  const current = currentKeyIds(repos);
  let cur: { name: string; version: string } | undefined = { name, version };
  for (let depth = 0; cur && depth < 16; depth++) {
    const keys = await installedImageKeys(root, cur.name, cur.version);
    if (!keys.some((k) => current.some((c) => sameKey(k, c)))) {
      const which = keys.length ? `key ${keys.join(', ')}` : 'no key rpm recorded';
      return new ImageError(
        'unknown_key',
        `installed ${cur.name}:${cur.version} is signed by ${which}, which is no longer among the tenant's repository keys`,
      );
    }
    cur = (await readInstalledManifest(root, cur.name, cur.version)).base;
  }
  return null;
}
