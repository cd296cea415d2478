import { ApiError } from './errors.js';

/**
 * Names the project keeps for itself. `freight-infra` is the agent's built-in infra skeleton
 * (host /usr, /bin, /lib and the project bound read-only); `infra-<network>` is the name of
 * every network's infra instance, created only by the controller with the network. Neither
 * may be asked for through the API, by a tenant or an admin: an admin has no reason to run
 * the infra image as an ordinary container, and a tenant must never get its binds.
 */
export const RESERVED_IMAGES: readonly string[] = ['freight-infra'];
export const RESERVED_CONTAINER_PREFIX = 'infra-';

/** 400 reserved_name for a reserved image (any version: `freight-infra:1` too) or container name. */
export function assertNotReserved(body: { name: string; image: string }, op: string): void {
  const image = body.image.split(':')[0].toLowerCase();
  if (RESERVED_IMAGES.includes(image)) {
    throw new ApiError('reserved_name', `${op}: image ${image} is reserved for the infra containers Freight creates itself`, 'image');
  }
  if (body.name.toLowerCase().startsWith(RESERVED_CONTAINER_PREFIX)) {
    throw new ApiError(
      'reserved_name',
      `${op}: container names starting with ${RESERVED_CONTAINER_PREFIX} are reserved for the networks' infra instances`,
      'name',
    );
  }
}
