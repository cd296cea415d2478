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
/** The DNS name every network's infra instance answers as (infra-container/dns/zone.ts). */
export const RESERVED_DNS_NAME = 'infra';
/** `infra-<network>` must fit the 63-character name rule uncut, or two networks' infra names could be one. */
export const MAX_NETWORK_NAME = 63 - RESERVED_CONTAINER_PREFIX.length;

/** 400 reserved_name for a network name whose infra instance name would not fit (and so could collide). */
export function assertNetworkNameFree(name: string, op: string): void {
  if (name.length > MAX_NETWORK_NAME) {
    throw new ApiError(
      'reserved_name',
      `${op}: network names are at most ${MAX_NETWORK_NAME} characters (its infra instance is ${RESERVED_CONTAINER_PREFIX}<network>)`,
      'name',
    );
  }
}

/** 400 reserved_name for a reserved image (any version: `freight-infra:1` too) or container name. */
export function assertNotReserved(body: { name: string; image: string }, op: string): void {
  const image = body.image.split(':')[0].toLowerCase();
  if (RESERVED_IMAGES.includes(image)) {
    throw new ApiError('reserved_name', `${op}: image ${image} is reserved for the infra containers Freight creates itself`, 'image');
  }
  // `infra.<zone>` is the network's name server (A, NS, SOA): a container of that name would be a second A record
  if (body.name.toLowerCase() === RESERVED_DNS_NAME) {
    throw new ApiError(
      'reserved_name',
      `${op}: container name ${RESERVED_DNS_NAME} is reserved: ${RESERVED_DNS_NAME}.<network zone> is the network's name server`,
      'name',
    );
  }
  if (body.name.toLowerCase().startsWith(RESERVED_CONTAINER_PREFIX)) {
    throw new ApiError(
      'reserved_name',
      `${op}: container names starting with ${RESERVED_CONTAINER_PREFIX} are reserved for the networks' infra instances`,
      'name',
    );
  }
}
