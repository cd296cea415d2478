import type { ImageRepoCreate } from '../../protocol/api.js';
import type { Queryable } from '../store/db.js';
import { ImageError } from '../../images/errors.js';
import type { TenantRepo } from '../../images/pull.js';
import type { RepoRevision } from '../../images/repo-client.js';

export interface ImageRepo extends TenantRepo {
  id: string;
  tenant: string;
  name: string;
  allowHttp: boolean;
  /** The newest metadata the controller has read from it (rollback below it is refused). */
  metadata: Required<RepoRevision>;
  createdAt: string;
}

interface Row {
  id: string;
  tenant: string;
  name: string;
  url: string;
  public_key: string;
  allow_http: boolean | null;
  metadata_revision: string | number | null;
  metadata_timestamp: string | number | null;
  metadata_signed: boolean | null;
  created_at: Date | string;
}

const n = (v: string | number | null) => (v === null || v === undefined ? null : Number(v));

const toRepo = (r: Row): ImageRepo => ({
  id: r.id,
  tenant: r.tenant,
  name: r.name,
  url: r.url,
  publicKey: r.public_key,
  allowHttp: r.allow_http === true,
  metadata: { revision: n(r.metadata_revision), timestamp: n(r.metadata_timestamp), signed: r.metadata_signed === true },
  createdAt: new Date(r.created_at).toISOString(),
});

/**
 * Image repositories (image RPMs, their keys in the nodes' keyrings) and package repositories
 * (ordinary packages `container outdated` compares components with): the same columns, two
 * tables. The table name comes from this map only, never from a request.
 */
export type RepoKind = 'image' | 'package';
const TABLE: Record<RepoKind, string> = { image: 'image_repositories', package: 'package_repositories' };

const select = (k: RepoKind) => `SELECT r.id, t.name AS tenant, r.name, r.url, r.public_key, r.allow_http,
    r.metadata_revision, r.metadata_timestamp, r.metadata_signed, r.created_at
  FROM ${TABLE[k]} r JOIN tenants t ON t.id = r.tenant_id`;

/**
 * How many repositories the tenant has, with its row locked (FOR UPDATE) so that two
 * concurrent adds cannot both pass a cap; null for an unknown tenant. Call inside a transaction.
 */
export async function countImageReposLocked(q: Queryable, tenant: string, kind: RepoKind = 'image'): Promise<number | null> {
  const t = await q.query<{ id: string }>(`SELECT id FROM tenants WHERE name = $1 FOR UPDATE`, [tenant]);
  if (!t.rows[0]) return null;
  const c = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE[kind]} WHERE tenant_id = $1`, [t.rows[0].id]);
  return c.rows[0].n;
}

/** Registers a repository for a tenant. Throws `not_found` for an unknown tenant; a duplicate name or URL surfaces as SQLSTATE 23505. */
export async function addImageRepo(q: Queryable, tenant: string, body: ImageRepoCreate, kind: RepoKind = 'image'): Promise<ImageRepo> {
  const { rows } = await q.query<{ id: string }>(
    `INSERT INTO ${TABLE[kind]} (tenant_id, name, url, public_key, allow_http)
     SELECT id, $2, $3, $4, $5 FROM tenants WHERE name = $1 RETURNING id`,
    [tenant, body.name, body.url, body.publicKey, body.allowHttp === true],
  );
  if (!rows[0]) throw new ImageError('not_found', `add ${kind} repository ${tenant}/${body.name}: no tenant ${tenant}`);
  const r = await q.query<Row>(`${select(kind)} WHERE r.id = $1`, [rows[0].id]);
  return toRepo(r.rows[0]);
}

/** The repositories a tenant may use, by name: what its nodes' keyrings and image look-ups are built from. */
export async function listImageRepos(q: Queryable, tenant: string, kind: RepoKind = 'image'): Promise<ImageRepo[]> {
  const { rows } = await q.query<Row>(`${select(kind)} WHERE t.name = $1 ORDER BY r.name`, [tenant]);
  return rows.map(toRepo);
}

/** Whether the tenant (by id) has image repositories; a create reads this inside its batch (api/containers.ts). */
export async function hasImageRepos(q: Queryable, tenantId: string): Promise<boolean> {
  const { rows } = await q.query<{ e: boolean }>('SELECT EXISTS (SELECT 1 FROM image_repositories WHERE tenant_id = $1) AS e', [tenantId]);
  return rows[0].e;
}

/**
 * Remembers the newest metadata read from a repository. Only ever moves forward
 * (GREATEST; signed stays signed), so concurrent reads of two revisions keep the newer.
 * Writes nothing when nothing is newer: the common case costs no row version.
 */
export async function recordRepoRevision(q: Queryable, id: string, r: RepoRevision, kind: RepoKind = 'image'): Promise<void> {
  await q.query(
    `UPDATE ${TABLE[kind]}
        SET metadata_revision = GREATEST(metadata_revision, $2::bigint),
            metadata_timestamp = GREATEST(metadata_timestamp, $3::bigint),
            metadata_signed = metadata_signed OR $4::boolean
      WHERE id = $1
        AND (metadata_revision IS DISTINCT FROM GREATEST(metadata_revision, $2::bigint)
             OR metadata_timestamp IS DISTINCT FROM GREATEST(metadata_timestamp, $3::bigint)
             OR (NOT metadata_signed AND $4::boolean))`,
    [id, r.revision ?? null, r.timestamp ?? null, r.signed === true],
  );
}

/** Removes a tenant's repository; false when it had none of that name. */
/** Removes a tenant's repository; its public key (for the audit log), or null when it had none of that name. */
export async function removeImageRepo(q: Queryable, tenant: string, name: string, kind: RepoKind = 'image'): Promise<string | null> {
  const { rows } = await q.query<{ public_key: string }>(
    `DELETE FROM ${TABLE[kind]} r USING tenants t WHERE r.tenant_id = t.id AND t.name = $1 AND r.name = $2 RETURNING r.public_key`,
    [tenant, name],
  );
  return rows[0]?.public_key ?? null;
}
