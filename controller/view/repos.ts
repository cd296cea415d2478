import type { ImageSource } from '../../protocol/view.js';
import type { Effects } from './apply.js';
import { containerView } from './apply.js';
import { indexAdd, indexDel, type ClusterState, type ContainerRow, type RepoRow } from './state.js';

/**
 * The controller's image rule: an image reference with a version (`NAME:VERSION`) is an RPM
 * image from the tenant's repositories; a bare name is a directory image imported on the
 * node. The controller pins the version at create time. The agent does not re-derive it:
 * a view container with `imageSource` is an RPM image, one without is a directory image.
 */
export const isRpmImage = (image: string): boolean => image.includes(':');

/** The repositories (sorted by name) a container's node needs for its RPM image; undefined for a directory image. */
export function imageSourceFor(state: ClusterState, c: ContainerRow): ImageSource | undefined {
  if (!isRpmImage(c.image)) return undefined;
  const repos = [...(state.reposByTenant.get(c.tenantId) ?? [])]
    .map((id) => state.repos.get(id))
    .filter((r): r is RepoRow => r !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((r) => ({ name: r.name, url: r.url, publicKey: r.publicKey }));
  return { repos };
}

/**
 * A repository changed: the view items of the tenant's RPM containers are rebuilt (only
 * nodes hosting them receive them). Repositories change rarely; one pass over the
 * containers is cheaper than keeping a per-tenant index up to date on every container write.
 */
export function setRepo(state: ClusterState, id: string, row: RepoRow | null, fx: Effects): void {
  const old = state.repos.get(id);
  indexDel(state.reposByTenant, old?.tenantId, id);
  if (row) {
    state.repos.set(id, row);
    indexAdd(state.reposByTenant, row.tenantId, id);
  } else state.repos.delete(id);
  const tenants = new Set([old?.tenantId, row?.tenantId].filter((t): t is string => t !== undefined));
  for (const [ctId, c] of state.containers) {
    if (!tenants.has(c.tenantId) || !isRpmImage(c.image)) continue;
    state.viewContainers.set(ctId, containerView(state, c));
    fx.containers.add(ctId);
  }
}
