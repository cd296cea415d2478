import type { Queryable } from '../store/db.js';
import { ApiError } from '../errors.js';

/** A tenant's containers that run pinned (RPM) images: what `outdated` compares. */
export async function pinnedContainers(q: Queryable, tenantId: string): Promise<Array<{ name: string; image: string }>> {
  const { rows } = await q.query<{ name: string; image: string }>(
    `SELECT name, image FROM containers WHERE tenant_id = $1 AND kind = 'container' AND strpos(image, ':') > 0 ORDER BY name`,
    [tenantId],
  );
  return rows;
}

export async function containerImage(q: Queryable, tenantId: string, tenant: string, name: string, op: string): Promise<string> {
  const { rows } = await q.query<{ image: string }>(
    `SELECT image FROM containers WHERE tenant_id = $1 AND name = $2 AND kind = 'container'`,
    [tenantId, name],
  );
  if (!rows[0]) throw new ApiError('container_not_found', `${op}: container ${name} not found in tenant ${tenant}`);
  return rows[0].image;
}

/**
 * Pins a container to another image version and bumps its generation: the change-log
 * trigger pushes the new spec and the node restarts it on the new version. Its endpoints
 * are rows of their own, untouched: same addresses, same MACs.
 */
export async function setContainerImage(
  q: Queryable,
  tenantId: string,
  tenant: string,
  name: string,
  image: string,
  op: string,
): Promise<void> {
  const { rows } = await q.query(
    `UPDATE containers SET image = $3, generation = generation + 1, updated_at = now()
      WHERE tenant_id = $1 AND name = $2 AND kind = 'container' RETURNING id`,
    [tenantId, name, image],
  );
  if (!rows[0]) throw new ApiError('container_not_found', `${op}: container ${name} not found in tenant ${tenant}`);
}
