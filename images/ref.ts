import { NAME_RE } from '../protocol/common.js';
import { ImageError } from './errors.js';

/** Image names follow the project's names (DNS labels); versions are rpm versions without dashes. */
export { NAME_RE };
export const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+~^]{0,63}$/;

/** The rpm package of an image, and the capability it provides (derivatives require it). */
export const PKG_PREFIX = 'freight-image-';
export const pkgName = (name: string): string => `${PKG_PREFIX}${name}`;
export const capability = (name: string): string => `freight-image(${name})`;

/** Where an image's files live inside an rpm root: one directory per version, so versions coexist. */
export const PAYLOAD_PREFIX = '/var/lib/freight/image-payload';
export const payloadPath = (name: string, version: string): string => `${PAYLOAD_PREFIX}/${name}/${version}`;

export interface ImageRef {
  name: string;
  /** Absent: the newest version the tenant's repositories have. */
  version?: string;
}

/** Parses `NAME[:VERSION]`. */
export function parseImageRef(ref: string): ImageRef {
  const [name, version, ...rest] = ref.split(':');
  if (rest.length || !NAME_RE.test(name))
    throw new ImageError('invalid_ref', `parse image ${JSON.stringify(ref)}: expected NAME[:VERSION] with a lower-case name`);
  if (version === undefined) return { name };
  assertVersion(version, ref);
  return { name, version };
}

export function assertVersion(version: string, what = version): void {
  if (!VERSION_RE.test(version))
    throw new ImageError('invalid_ref', `image version of ${JSON.stringify(what)}: letters, digits and . _ + ~ ^ (no dashes)`);
}
