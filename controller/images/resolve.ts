import type { Logger } from 'pino';
import { ImageError, isImageError } from '../../images/errors.js';
import { parseImageRef, type ImageRef } from '../../images/ref.js';
import { DEFAULT_LIMITS, readRepo, type IndexedImage, type RepoIndex, type RepoLimits } from '../../images/repo-client.js';
import { newestOf, resolveImage } from '../../images/resolve.js';
import { listImageRepos, recordRepoRevision, type ImageRepo, type RepoKind } from './repos-store.js';
import { parseCidr } from '../../images/net-policy.js';
import type { Queryable } from '../store/db.js';
import { ApiError, type ErrorCode } from '../errors.js';

/** How long the controller waits for a tenant's repositories while answering a request. */
export const DEFAULT_REPO_TIMEOUT_MS = 3000;
export const DEFAULT_MAX_REPOS_PER_TENANT = 16;

/** The controller's repository fetch settings (flags/env of `freight-controller serve`). */
export interface ResolveDeps {
  /** Per request (connect to last byte), FREIGHT_IMAGE_REPO_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Ranges a repository may resolve to although not global (`--repo-allow-cidr`). */
  allowCidrs?: readonly string[];
  limits?: Partial<RepoLimits>;
  maxReposPerTenant?: number;
  /** Where the reason of a refused or failed fetch goes (never to the tenant). */
  log?: Pick<Logger, 'warn'>;
}

/** Reads the settings from the environment; a bad allow-list entry fails the start, not a request. */
export function resolveDepsFromEnv(env: NodeJS.ProcessEnv = process.env): ResolveDeps {
  const num = (v: string | undefined) => (Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : undefined);
  const allowCidrs = (env.FREIGHT_REPO_ALLOW_CIDR ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  allowCidrs.forEach(parseCidr);
  return {
    timeoutMs: num(env.FREIGHT_IMAGE_REPO_TIMEOUT_MS),
    allowCidrs,
    maxReposPerTenant: num(env.FREIGHT_MAX_REPOS_PER_TENANT),
    limits: {
      primaryBytes: num(env.FREIGHT_REPO_MAX_METADATA_BYTES) ?? DEFAULT_LIMITS.primaryBytes,
      primaryXmlBytes: num(env.FREIGHT_REPO_MAX_METADATA_XML_BYTES) ?? DEFAULT_LIMITS.primaryXmlBytes,
    },
  };
}

/** The image error of a repository read → what the tenant may be told (network detail only in the log). */
function repoError(e: ImageError, repo: ImageRepo, tenant: string, op: string): ApiError {
  const what = `image repository ${repo.name} (${repo.url}) of ${tenant}`;
  const codes: Partial<Record<ImageError['code'], ErrorCode>> = {
    repo_corrupt: 'image_repo_invalid',
    repo_too_large: 'image_repo_invalid',
    checksum_mismatch: 'image_repo_invalid',
    repo_rollback: 'image_repo_rollback',
    repo_bad_signature: 'image_repo_bad_signature',
  };
  const code = codes[e.code];
  if (code) return new ApiError(code, `${op}: ${what}: ${e.message}`, undefined, { cause: e });
  return new ApiError('image_repo_unavailable', `${op}: ${what} unreachable`, undefined, { cause: e });
}

async function readOne(q: Queryable, repo: ImageRepo, tenant: string, op: string, d: ResolveDeps): Promise<IndexedImage[]> {
  return (await readIndex(q, repo, tenant, op, d)).images;
}

/** The controller's fetch policy: global addresses and https unless the admin said otherwise. */
export const controllerPolicy = (d: ResolveDeps, timeoutMs = d.timeoutMs ?? DEFAULT_REPO_TIMEOUT_MS) => ({
  address: { allowCidrs: d.allowCidrs ?? [] },
  allowHttp: false,
  timeoutMs,
});

/** Reads one repository of the tenant (rollback refused, revision recorded); errors as the tenant may see them. */
export async function readIndex(
  q: Queryable,
  repo: ImageRepo,
  tenant: string,
  op: string,
  d: ResolveDeps,
  o: { kind?: RepoKind; wanted?: ReadonlySet<string> } = {},
): Promise<RepoIndex> {
  try {
    const r = await readRepo(
      { url: repo.url, allowHttp: repo.allowHttp, publicKey: repo.publicKey, seen: repo.metadata },
      { policy: controllerPolicy(d), limits: d.limits, wanted: o.wanted },
    );
    await recordRepoRevision(q, repo.id, r, o.kind);
    return r;
  } catch (e) {
    if (!isImageError(e)) throw e;
    d.log?.warn(
      { tenant, repository: repo.name, code: e.code, detail: (e as { detail?: string }).detail ?? e.message },
      'image repository read failed',
    );
    throw repoError(e, repo, tenant, op);
  }
}

/** The merged index of a tenant's repositories; a repository that cannot be read fails the look-up. */
export async function tenantIndex(q: Queryable, tenant: string, op: string, d: ResolveDeps = {}): Promise<IndexedImage[] | null> {
  const repos = await listImageRepos(q, tenant);
  if (repos.length === 0) return null;
  return (await Promise.all(repos.map((r) => readOne(q, r, tenant, op, d)))).flat();
}

function parseRef(image: string, op: string): ImageRef {
  try {
    return parseImageRef(image);
  } catch (e) {
    throw new ApiError('invalid', `${op}: ${(e as Error).message}`, 'image', { cause: e });
  }
}

/** `NAME:VERSION` of the image offered, or 404 image_not_found. */
export function pin(ref: ImageRef, index: IndexedImage[], tenant: string, op: string): string {
  try {
    const hit = resolveImage(ref, index);
    return `${hit.name}:${hit.version}`;
  } catch (e) {
    if (!isImageError(e, 'not_found')) throw e;
    throw new ApiError('image_not_found', `${op}: ${e.message} (tenant ${tenant})`, 'image', { cause: e });
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
  if (!index) return directoryImage(tenant, image, op);
  if (ref) return pin(ref, index, tenant, op);
  const newest = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(image) ? newestOf(index, image) : undefined;
  return newest ? `${newest.name}:${newest.version}` : image;
}

/** What a container of a tenant without image repositories stores: a directory image (a `NAME:VERSION` is refused). */
export function directoryImage(tenant: string, image: string, op: string): string {
  if (!image.includes(':')) return image;
  parseRef(image, op);
  throw new ApiError('image_not_found', `${op}: image ${image}: tenant ${tenant} has no image repositories`, 'image');
}

export { ImageError };
