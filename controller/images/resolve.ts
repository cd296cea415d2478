import { ImageError, isImageError } from '../../images/errors.js';
import { parseImageRef, type ImageRef } from '../../images/ref.js';
import { fetchIndexes, type Fetch, type IndexedImage } from '../../images/repo-client.js';
import { newestOf, resolveImage } from '../../images/resolve.js';
import { listImageRepos } from '../../images/repos-store.js';
import type { Queryable } from '../store/db.js';
import { ApiError } from '../errors.js';

/** How long the controller waits for a tenant's repositories while answering a request. */
export const DEFAULT_REPO_TIMEOUT_MS = 3000;

export interface ResolveDeps {
  fetch?: Fetch;
  timeoutMs?: number;
}

/** A fetch whose every request gives up after `ms`: an API call never hangs on a dead repository. */
export function fetchWithTimeout(ms: number, base: Fetch = fetch): Fetch {
  return ((url: string | URL | Request, init?: RequestInit) => base(url, { ...init, signal: AbortSignal.timeout(ms) })) as Fetch;
}

/** The merged index of a tenant's repositories; a repository that cannot be read → 503 image_repo_unavailable. */
export async function tenantIndex(q: Queryable, tenant: string, op: string, d: ResolveDeps = {}): Promise<IndexedImage[] | null> {
  const repos = await listImageRepos(q, tenant);
  if (repos.length === 0) return null;
  const doFetch = fetchWithTimeout(d.timeoutMs ?? DEFAULT_REPO_TIMEOUT_MS, d.fetch);
  try {
    return await fetchIndexes(repos.map((r) => r.url), doFetch);
  } catch (e) {
    if (!isImageError(e)) throw e;
    throw new ApiError('image_repo_unavailable', `${op}: image repository of ${tenant} unreadable (${e.code}): ${e.message}`);
  }
}

function parseRef(image: string, op: string): ImageRef {
  try {
    return parseImageRef(image);
  } catch (e) {
    throw new ApiError('invalid', `${op}: ${(e as Error).message}`, 'image');
  }
}

/** `NAME:VERSION` of the image offered, or 404 image_not_found. */
export function pin(ref: ImageRef, index: IndexedImage[], tenant: string, op: string): string {
  try {
    const hit = resolveImage(ref, index);
    return `${hit.name}:${hit.version}`;
  } catch (e) {
    if (!isImageError(e, 'not-found')) throw e;
    throw new ApiError('image_not_found', `${op}: ${e.message} (tenant ${tenant})`, 'image');
  }
}

/**
 * The image a new container stores. The rule (docs/images.md): `NAME:VERSION` is an RPM
 * image and must be offered by one of the tenant's repositories; a bare `NAME` is an RPM
 * image pinned to its newest version when a repository of the tenant offers it, and a
 * directory image (imported on the nodes) otherwise. A tenant without repositories has
 * directory images only, and its creates never touch the network.
 */
export async function imageForCreate(q: Queryable, tenant: string, image: string, op: string, d: ResolveDeps = {}): Promise<string> {
  const versioned = image.includes(':');
  const ref = versioned ? parseRef(image, op) : undefined;
  const index = await tenantIndex(q, tenant, op, d);
  if (!index) {
    if (versioned) throw new ApiError('image_not_found', `${op}: image ${image}: tenant ${tenant} has no image repositories`, 'image');
    return image;
  }
  if (ref) return pin(ref, index, tenant, op);
  const newest = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(image) ? newestOf(index, image) : undefined;
  return newest ? `${newest.name}:${newest.version}` : image;
}

export { ImageError };
