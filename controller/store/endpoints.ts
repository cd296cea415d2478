import type { Queryable } from './db.js';
import { decodeCursor, toPage, type Page } from './paging.js';
import type { Tenant } from './tenants.js';

/** One row of the IP/MAC → node mapping table. */
export interface Endpoint {
  container: string;
  kind: 'container' | 'infra';
  network: string;
  ip: string;
  mac: string;
  node: string | null;
  nodeUnderlayIp: string | null;
}

export async function listEndpoints(
  q: Queryable,
  t: Tenant,
  network: string | undefined,
  limit: number,
  after?: string,
): Promise<Page<Endpoint>> {
  const cur = decodeCursor(after, 2);
  const { rows } = await q.query<Endpoint>(
    `SELECT c.name AS container, c.kind, n.name AS network, host(e.ip) AS ip, e.mac::text AS mac,
            nd.name AS node, host(nd.underlay_ip) AS "nodeUnderlayIp"
       FROM endpoints e JOIN containers c ON c.id = e.container_id JOIN networks n ON n.id = e.network_id
       LEFT JOIN nodes nd ON nd.id = e.node_id
      WHERE e.tenant_id = $1 AND ($2::text IS NULL OR n.name = $2)
        AND ($3::text IS NULL OR (n.name, e.ip) > ($3::text, $4::inet))
      ORDER BY n.name, e.ip LIMIT $5`,
    [t.id, network ?? null, cur?.[0] ?? null, cur?.[1] ?? null, limit + 1],
  );
  return toPage(
    rows,
    limit,
    (r) => [r.network, r.ip],
    (r) => r, // the query names its columns as the API does
  );
}

/** Endpoints by id, as `list endpoints` shows them (with their id): the events stream's loader. */
export async function endpointsByIds(q: Queryable, ids: string[]): Promise<Array<Endpoint & { id: string }>> {
  const { rows } = await q.query<Endpoint & { id: string }>(
    `SELECT e.id::text AS id, c.name AS container, c.kind, n.name AS network, host(e.ip) AS ip, e.mac::text AS mac,
            nd.name AS node, host(nd.underlay_ip) AS "nodeUnderlayIp"
       FROM endpoints e JOIN containers c ON c.id = e.container_id JOIN networks n ON n.id = e.network_id
       LEFT JOIN nodes nd ON nd.id = e.node_id
      WHERE e.id = ANY($1::uuid[])`,
    [ids],
  );
  return rows;
}
