import { ContainerUpgrade } from '../../protocol/api.js';
import { ContainerResponse, ImageOutdatedResponse, Page, RepositoryResponse } from '../../protocol/responses.js';
import { addImageRepo, countImageReposLocked, listImageRepos, removeImageRepo } from '../images/repos-store.js';
import { ImageRepoCreate } from '../../protocol/api.js';
import type { Principal } from '../auth.js';
import type { Queryable } from '../store/db.js';
import { outdated } from '../../images/resolve.js';
import { parseImageRef } from '../../images/ref.js';
import { ApiError } from '../errors.js';
import { DEFAULT_MAX_REPOS_PER_TENANT, pin, tenantIndex, type ResolveDeps } from '../images/resolve.js';
import { containerImage, pinnedContainers, setContainerImage } from '../images/store.js';
import { getContainer } from '../store/containers.js';
import { BODY_LIMITS, route, type Deps } from './route.js';
import { keyIdOf } from '../../images/pgp-key.js';
import type { IndexedImage } from '../../images/repo-client.js';
import type { ComponentUpdate } from '../../images/updates.js';
import { updatesFor } from '../images/components.js';

/**
 * Who may register what: plain http only with `allowHttp`, which only an admin may set
 * (a tenant cannot opt its metadata out of TLS); then the per-tenant cap, counted with the
 * tenant row locked so concurrent adds cannot overshoot it.
 */
function checkRepoBody(p: Principal, body: ImageRepoCreate, op: string): void {
  if (body.allowHttp !== undefined && p.kind !== 'admin')
    throw new ApiError('forbidden', `${op}: allowHttp needs an admin token`, 'allowHttp');
  if (body.url.startsWith('http://') && body.allowHttp !== true) {
    throw new ApiError('repo_url_insecure', `${op}: plain http:// repositories need allowHttp (set by an admin); use https://`, 'url');
  }
}

async function addCapped(q: Queryable, tenant: string, body: ImageRepoCreate, d: ResolveDeps, op: string) {
  const max = d.maxReposPerTenant ?? DEFAULT_MAX_REPOS_PER_TENANT;
  const have = await countImageReposLocked(q, tenant);
  if (have !== null && have >= max)
    throw new ApiError('too_many_image_repos', `${op}: tenant ${tenant} already has ${have} image repositories (at most ${max})`);
  return addImageRepo(q, tenant, body);
}

/**
 * The audit log says which key stopped verifying (besides the removal itself): nodes refuse new
 * starts of images signed only by it from now on, and report their running containers on it.
 */
function auditKeyRevoked(
  deps: Deps,
  p: Principal,
  tenantId: string,
  tenant: string,
  repo: string,
  publicKey: string,
  req: { method: string; url: string; ip: string },
): void {
  let keyId = 'unreadable';
  try {
    keyId = keyIdOf(publicKey);
  } catch {
    // a key the nodes could not import either: its id is unknown, the removal is still recorded
  }
  deps.audit.record({
    at: deps.now(),
    actor: `${p.kind}:${p.tokenId}`,
    tenantId,
    method: req.method,
    path: req.url.split('?')[0].slice(0, 500),
    status: 204,
    source: req.ip,
    action: 'revoke image key',
    object: `key ${keyId} of tenant ${tenant} (image repository ${repo}): new starts of images signed only by it are refused`,
  });
}

const repoRoutes = [
  route<ImageRepoCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/image-repositories',
    response: RepositoryResponse,
    errors: ['repo_url_insecure', 'too_many_image_repos'],
    summary: 'let a tenant pull RPM images from a yum repository signed with this public key',
    op: 'add image repository',
    target: ({ params, body }) => `${params.tenant}/${body.name}`,
    auth: 'any',
    body: ImageRepoCreate,
    bodyLimit: BODY_LIMITS.imageRepoCreate,
    status: 201,
    handler: async ({ body, tenant, principal, op, deps }) => {
      checkRepoBody(principal, body, op);
      return deps.db.tx((q) => addCapped(q, tenant.name, body, deps.images, op));
    },
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/image-repositories',
    response: Page(RepositoryResponse),
    summary: "a tenant's image repositories (URL and public key)",
    op: 'list image repositories',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    handler: async ({ tenant, deps }) => ({ items: await listImageRepos(deps.db, tenant.name), next: null }),
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/image-repositories/:name',
    response: RepositoryResponse,
    summary: 'show an image repository',
    op: 'get image repository',
    target: ({ params }) => `${params.tenant}/${params.name}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      const hit = (await listImageRepos(deps.db, tenant.name)).find((r) => r.name === params.name);
      if (!hit) throw new ApiError('image_repo_not_found', `${op}: no image repository ${params.name} in tenant ${tenant.name}`);
      return hit;
    },
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/image-repositories/:name',
    response: null,
    summary: "remove a tenant's image repository (its key stops verifying on the nodes)",
    op: 'remove image repository',
    target: ({ params }) => `${params.tenant}/${params.name}`,
    auth: 'any',
    handler: async ({ params, tenant, principal, op, deps, reply }) => {
      const gone = await deps.db.tx((q) => removeImageRepo(q, tenant.name, params.name));
      if (!gone) throw new ApiError('image_repo_not_found', `${op}: no image repository ${params.name} in tenant ${tenant.name}`);
      auditKeyRevoked(deps, principal, tenant.id, tenant.name, params.name, gone, reply.request);
      return undefined;
    },
  }),
];

/**
 * The components an image version records (its `freight-component` provides in the repository's
 * metadata) with newer versions in the tenant's package repositories or newer image versions.
 */
async function recordedUpdates(deps: Deps, tenant: string, image: string, index: IndexedImage[], op: string): Promise<ComponentUpdate[]> {
  const ref = parseImageRef(image);
  const img = index.find((i) => i.name === ref.name && i.version === ref.version);
  if (!img?.components?.length) return [];
  const installed = img.components.map((c) => ({ ...c, arch: 'noarch', key: null }));
  return updatesFor(deps.db, tenant, installed, image, op, deps.images);
}

const upgradeRoutes = [
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/images/outdated',
    response: Page(ImageOutdatedResponse),
    errors: ['image_repo_unavailable', 'image_repo_invalid', 'image_repo_bad_signature', 'image_repo_rollback'],
    summary: "the tenant's containers whose RPM image has a newer version in its repositories",
    op: 'outdated images',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    handler: async ({ tenant: t, op, deps }) => {
      const pinned = await pinnedContainers(deps.db, t.id);
      if (pinned.length === 0) return { items: [], next: null };
      const index = (await tenantIndex(deps.db, t.name, op, deps.images)) ?? [];
      const newer = outdated(
        pinned.map((c) => ({ container: c.name, image: c.image })),
        index,
      );
      const items = [];
      for (const c of pinned) {
        const ref = parseImageRef(c.image);
        const hit = newer.find((o) => o.container === c.name);
        const components = await recordedUpdates(deps, t.name, c.image, index, op);
        if (!hit && !components.length) continue;
        items.push({
          tenant: t.name,
          ...(hit ?? { container: c.name, name: ref.name, current: ref.version!, newest: ref.version! }),
          ...(components.length ? { components } : {}),
        });
      }
      return { items, next: null };
    },
  }),
  route<ContainerUpgrade>({
    method: 'POST',
    url: '/v1/tenants/:tenant/containers/:name/upgrade',
    response: ContainerResponse,
    errors: [
      'invalid',
      'image_not_found',
      'image_repo_unavailable',
      'image_repo_invalid',
      'image_repo_bad_signature',
      'image_repo_rollback',
      'container_not_running',
    ],
    summary: 'run a container on another version of its RPM image (newest by default), keeping its addresses',
    op: 'upgrade container',
    target: ({ params }) => `${params.tenant}/${params.name}`,
    auth: 'any',
    body: ContainerUpgrade,
    handler: async ({ params, body, tenant: t, op, deps }) => {
      const current = await containerImage(deps.db, t.id, t.name, params.name, op);
      if (!current.includes(':'))
        throw new ApiError('conflict', `${op}: image ${current} is a directory image, not an RPM image from a repository`);
      const name = parseImageRef(current).name;
      const index = await tenantIndex(deps.db, t.name, op, deps.images);
      if (!index) throw new ApiError('image_not_found', `${op}: tenant ${t.name} has no image repositories`);
      const next = pin({ name, version: body.version }, index, t.name, op);
      if (next !== current) await deps.db.tx((q) => setContainerImage(q, t.id, t.name, params.name, next, op));
      return getContainer(deps.db, t, params.name, op);
    },
  }),
];

export const imageRoutes = [...repoRoutes, ...upgradeRoutes];
