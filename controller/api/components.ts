import { ImageRepoCreate } from '../../protocol/api.js';
import { ComponentsOutdatedResponse, PackagesResponse, Page, RepositoryResponse } from '../../protocol/responses.js';
import type { Principal } from '../auth.js';
import { nodeError, updatesFor } from '../images/components.js';
import { addImageRepo, countImageReposLocked, listImageRepos, removeImageRepo } from '../images/repos-store.js';
import { DEFAULT_MAX_REPOS_PER_TENANT } from '../images/resolve.js';
import { getContainer } from '../store/containers.js';
import { ApiError } from '../errors.js';
import { BODY_LIMITS, route, type Deps } from './route.js';
import type { ScopedTenant } from '../auth.js';

/** The container's components, read by its node from the root's own rpm database. */
async function packagesOf(deps: Deps, tenant: ScopedTenant, name: string, op: string) {
  const c = await getContainer(deps.db, tenant, name, op);
  if (!c.node) throw new ApiError('node_unavailable', `${op}: not scheduled on a node yet`);
  try {
    return { c, node: c.node, ...(await deps.push.requestPackages(c.node, c.id)) };
  } catch (err) {
    throw nodeError(op, c.node, err);
  }
}

const containerRoutes = [
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers/:name/packages',
    response: PackagesResponse,
    errors: ['node_unavailable', 'container_not_running'],
    summary: "the packages of a container's root as its own rpm database records them (read on its node, nothing run)",
    op: 'container packages',
    describe: ({ params }) => `packages of container ${params.tenant}/${params.name}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      const r = await packagesOf(deps, tenant, params.name, op);
      return { container: r.c.name, node: r.node, image: r.c.image, items: r.packages, invalid: r.invalid, truncated: r.truncated };
    },
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/containers/:name/outdated',
    response: ComponentsOutdatedResponse,
    errors: [
      'node_unavailable',
      'container_not_running',
      'image_repo_unavailable',
      'image_repo_invalid',
      'image_repo_bad_signature',
      'image_repo_rollback',
    ],
    summary: "a container's components with newer versions in the tenant's package and image repositories (rpm version order)",
    op: 'container outdated',
    describe: ({ params }) => `outdated components of container ${params.tenant}/${params.name}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      const r = await packagesOf(deps, tenant, params.name, op);
      const items = await updatesFor(deps.db, tenant.name, r.packages, r.c.image, op, deps.images);
      return { container: r.c.name, image: r.c.image, items, next: null };
    },
  }),
];

function checkBody(p: Principal, body: ImageRepoCreate, op: string): void {
  if (body.allowHttp !== undefined && p.kind !== 'admin')
    throw new ApiError('forbidden', `${op}: allowHttp needs an admin token`, 'allowHttp');
  if (body.url.startsWith('http://') && body.allowHttp !== true)
    throw new ApiError('repo_url_insecure', `${op}: plain http:// repositories need allowHttp (set by an admin); use https://`, 'url');
}

/** Package repositories: ordinary yum repositories (a distribution mirror) and the key their packages are signed with. */
const packageRepoRoutes = [
  route<ImageRepoCreate>({
    method: 'POST',
    url: '/v1/tenants/:tenant/package-repositories',
    response: RepositoryResponse,
    errors: ['repo_url_insecure', 'too_many_image_repos'],
    summary: "add a package repository (yum URL + the key its packages are signed with) that containers' components are compared with",
    op: 'add package repository',
    target: ({ params, body }) => `${params.tenant}/${body.name}`,
    auth: 'any',
    body: ImageRepoCreate,
    bodyLimit: BODY_LIMITS.imageRepoCreate,
    status: 201,
    handler: async ({ body, tenant, principal, op, deps }) => {
      checkBody(principal, body, op);
      const max = deps.images.maxReposPerTenant ?? DEFAULT_MAX_REPOS_PER_TENANT;
      return deps.db.tx(async (q) => {
        const have = await countImageReposLocked(q, tenant.name, 'package');
        if (have !== null && have >= max)
          throw new ApiError(
            'too_many_image_repos',
            `${op}: tenant ${tenant.name} already has ${have} package repositories (at most ${max})`,
          );
        return addImageRepo(q, tenant.name, body, 'package');
      });
    },
  }),
  route({
    method: 'GET',
    url: '/v1/tenants/:tenant/package-repositories',
    response: Page(RepositoryResponse),
    summary: "a tenant's package repositories (URL and public key)",
    op: 'list package repositories',
    target: ({ params }) => `of ${params.tenant}`,
    auth: 'any',
    handler: async ({ tenant, deps }) => ({ items: await listImageRepos(deps.db, tenant.name, 'package'), next: null }),
  }),
  route({
    method: 'DELETE',
    url: '/v1/tenants/:tenant/package-repositories/:name',
    response: null,
    summary: "remove a tenant's package repository",
    op: 'remove package repository',
    target: ({ params }) => `${params.tenant}/${params.name}`,
    auth: 'any',
    handler: async ({ params, tenant, op, deps }) => {
      const gone = await deps.db.tx((q) => removeImageRepo(q, tenant.name, params.name, 'package'));
      if (!gone) throw new ApiError('package_repo_not_found', `${op}: no package repository ${params.name} in tenant ${tenant.name}`);
      return undefined;
    },
  }),
];

export const componentRoutes = [...containerRoutes, ...packageRepoRoutes];
