import type { Logger } from 'pino';
import { isImageError } from '../../images/errors.js';
import { imageLayers } from '../../images/layers.js';
import type { TenantRepo } from '../../images/pull.js';
import { parseImageRef } from '../../images/ref.js';
import { tenantRoot } from '../../images/rpmroot.js';
import { RuntimeError, errorMessage } from './errors.js';
import { ensureRpmImage } from './rpm-images.js';
import { revokedKeyOf } from './image-keys.js';

export interface RpmLayersOptions {
  stateDir: string;
  tenant: string;
  /** `NAME:VERSION`, pinned by the controller. */
  image: string;
  repos: TenantRepo[];
  /** The container, for messages. */
  what: string;
  log: Logger;
}

/** Refusals of a package itself: the container fails with the reason; retrying changes nothing. */
const REFUSED = new Set(['unsigned', 'unknown_key', 'bad_signature', 'tampered', 'checksum_mismatch', 'unsafe_package']);

/**
 * The overlay lower directories of a container's RPM image. A pinned version already
 * installed in the tenant's rpm root (by an earlier container or start) is used as is,
 * without the network: a restart never depends on the repository being up. Otherwise
 * ensureRpmImage fetches, verifies against the tenant's keys and installs it (and its
 * base). An unreachable repository is transient (the container stays pending, retried).
 */
export async function rpmImageLayers(o: RpmLayersOptions): Promise<string[]> {
  const ref = parseImageRef(o.image);
  const root = tenantRoot(o.stateDir, o.tenant);
  if (ref.version) {
    const installed = await imageLayers(root, ref.name, ref.version).catch((e: unknown) => {
      if (isImageError(e, 'unsafe_package')) throw refused(o, e);
      return undefined;
    });
    if (installed) {
      const revoked = await revokedKeyOf(root, ref.name, ref.version, o.repos);
      if (revoked) throw refused(o, revoked);
      return installed.lowerdirs;
    }
  }
  try {
    const r = await ensureRpmImage({
      stateDir: o.stateDir,
      tenant: o.tenant,
      image: o.image,
      repos: o.repos,
      onInstall: (name, version) => o.log.info({ tenant: o.tenant, image: `${name}:${version}` }, 'image installed'),
    });
    return r.lowerdirs;
  } catch (e) {
    throw refused(o, e);
  }
}

function refused(o: RpmLayersOptions, e: unknown): RuntimeError {
  const code = isImageError(e) ? e.code : 'command_failed';
  const detail = `image ${o.image} ${REFUSED.has(code) ? 'refused' : 'not available'} (${code}): ${errorMessage(e)}`;
  return new RuntimeError(
    REFUSED.has(code) ? 'image_refused' : 'image_pull_failed',
    'start container',
    o.what,
    detail,
    code === 'repo_unreachable',
    { cause: e },
  );
}
