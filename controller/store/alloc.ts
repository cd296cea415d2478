import { randomBytes } from 'node:crypto';
import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import { hostRange, intToIp, ipToInt, macFor, randomMac, reservedAddresses } from '../ipam.js';

/** What allocation needs to know of a network (its row must be locked FOR UPDATE by the caller). */
export interface NetRef {
  id: string;
  name: string;
  cidr: string;
  gateway: string | null;
  vni: number;
}

/**
 * Lowest free address of the network: the smallest `used + 1` that is itself unused,
 * where "used" is the allocated endpoints plus the network address, gateway and infra.
 */
export async function allocateIp(q: Queryable, net: NetRef, op: string): Promise<string> {
  const r = hostRange(net.cidr);
  const sentinels = [r.network, ...reservedAddresses(net.cidr, net.gateway)];
  const { rows } = await q.query<{ a: string }>(
    `WITH used AS (
       SELECT (ip - '0.0.0.0'::inet) AS a FROM endpoints WHERE network_id = $1
       UNION ALL SELECT unnest($2::bigint[]))
     SELECT u.a + 1 AS a FROM used u
      WHERE u.a + 1 <= $3 AND NOT EXISTS (SELECT 1 FROM used v WHERE v.a = u.a + 1)
      ORDER BY u.a LIMIT 1`,
    [net.id, sentinels, r.last],
  );
  if (!rows[0]) throw new ApiError('pool_exhausted', `${op}: network ${net.name} (${net.cidr}) has no free address`);
  return intToIp(Number(rows[0].a));
}

/** MAC from VNI + address; networks wider than /16 can repeat it, so then check and fall back to random. */
export async function allocateMac(q: Queryable, net: NetRef, ip: string): Promise<string> {
  let mac = macFor(net.vni, ip);
  if (hostRange(net.cidr).prefix >= 16) return mac;
  for (;;) {
    const { rows } = await q.query('SELECT 1 FROM endpoints WHERE network_id = $1 AND mac = $2::macaddr', [net.id, mac]);
    if (rows.length === 0) return mac;
    mac = randomMac(randomBytes(5));
  }
}

/** Lowest VNI not in use. Callers serialise with an advisory lock; the unique key catches the rest. */
export async function allocateVni(q: Queryable, op: string): Promise<number> {
  const { rows } = await q.query<{ v: number | null }>(
    `SELECT min(u.v + 1) AS v FROM (SELECT 0 AS v UNION ALL SELECT vni FROM networks) u
      WHERE u.v < 16777215 AND NOT EXISTS (SELECT 1 FROM networks n WHERE n.vni = u.v + 1)`,
  );
  if (rows[0]?.v == null) throw new ApiError('pool_exhausted', `${op}: no free VNI`);
  return Number(rows[0].v);
}

export async function insertEndpoint(
  q: Queryable,
  e: { tenantId: string; networkId: string; containerId: string; ifindex: number; ip: string; mac: string; nodeId: string | null },
): Promise<void> {
  await q.query(
    `INSERT INTO endpoints (tenant_id, network_id, container_id, ifindex, ip, mac, node_id)
     VALUES ($1, $2, $3, $4, $5::inet, $6::macaddr, $7)`,
    [e.tenantId, e.networkId, e.containerId, e.ifindex, e.ip, e.mac, e.nodeId],
  );
}

export { ipToInt };
