import type { ImageSource } from '../../protocol/view.js';
import type { ClusterState, ContainerRow, RepoRow } from './state.js';

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
