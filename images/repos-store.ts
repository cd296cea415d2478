import { z } from 'zod';
import type { Queryable } from '../controller/store/db.js';
import { ImageError } from './errors.js';
import type { TenantRepo } from './pull.js';

/** REST body of `POST /v1/tenants/:tenant/image-repositories`. */
export const ImageRepoCreate = z
  .object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
    url: z.string().url().regex(/^https?:\/\//, 'an http(s) URL of a yum repository'),
    publicKey: z.string().max(65_536).includes('-----BEGIN PGP PUBLIC KEY BLOCK-----', { message: 'an ASCII-armoured OpenPGP public key' }),
  })
  .strict();
export type ImageRepoCreate = z.infer<typeof ImageRepoCreate>;

export interface ImageRepo extends TenantRepo {
  id: string;
  tenant: string;
  name: string;
  createdAt: string;
}

interface Row {
  id: string;
  tenant: string;
  name: string;
  url: string;
  public_key: string;
  created_at: Date | string;
}

const toRepo = (r: Row): ImageRepo => ({
  id: r.id,
  tenant: r.tenant,
  name: r.name,
  url: r.url,
  publicKey: r.public_key,
  createdAt: new Date(r.created_at).toISOString(),
});

const SELECT = `SELECT r.id, t.name AS tenant, r.name, r.url, r.public_key, r.created_at
  FROM image_repositories r JOIN tenants t ON t.id = r.tenant_id`;

/** Registers a repository for a tenant. Throws `not-found` for an unknown tenant; a duplicate name or URL surfaces as SQLSTATE 23505. */
export async function addImageRepo(q: Queryable, tenant: string, body: ImageRepoCreate): Promise<ImageRepo> {
  const { rows } = await q.query<{ id: string }>(
    `INSERT INTO image_repositories (tenant_id, name, url, public_key)
     SELECT id, $2, $3, $4 FROM tenants WHERE name = $1 RETURNING id`,
    [tenant, body.name, body.url, body.publicKey],
  );
  if (!rows[0]) throw new ImageError('not-found', `add image repository ${tenant}/${body.name}: no tenant ${tenant}`);
  const r = await q.query<Row>(`${SELECT} WHERE r.id = $1`, [rows[0].id]);
  return toRepo(r.rows[0]);
}

/** The repositories a tenant may use, by name: what its nodes' keyrings and image look-ups are built from. */
export async function listImageRepos(q: Queryable, tenant: string): Promise<ImageRepo[]> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE t.name = $1 ORDER BY r.name`, [tenant]);
  return rows.map(toRepo);
}

/** Removes a tenant's repository; false when it had none of that name. */
export async function removeImageRepo(q: Queryable, tenant: string, name: string): Promise<boolean> {
  const { rows } = await q.query(
    `DELETE FROM image_repositories r USING tenants t WHERE r.tenant_id = t.id AND t.name = $1 AND r.name = $2 RETURNING r.id`,
    [tenant, name],
  );
  return rows.length > 0;
}
