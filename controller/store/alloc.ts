import { randomBytes } from 'node:crypto';
import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import { hostRange, intToIp4 } from '../../protocol/addr.js';
import { macFor, randomMac, reservedAddresses } from '../ipam.js';

/** What allocation needs to know of a network (its row must be locked FOR UPDATE by the caller). */
export interface NetRef {
  id: string;
  name: string;
  cidr: string;
  gateway: string | null;
  vni: number;
}

/**
 * The lowest free addresses of the network, ascending, at most `limit`: for each gap
 * (a `used + 1` that is itself unused) the addresses up to the next used one, where
 * "used" is the allocated endpoints plus the network address, gateway and infra.
 * The caller holds the network row lock, so the list stays free until it commits.
 */
export async function freeAddresses(q: Queryable, net: NetRef, limit: number): Promise<string[]> {
  const r = hostRange(net.cidr);
  const sentinels = [r.network, ...reservedAddresses(net.cidr, net.gateway)];
  const { rows } = await q.query<{ a: string }>(
    `WITH used AS MATERIALIZED (
       SELECT (ip - '0.0.0.0'::inet) AS a FROM endpoints WHERE network_id = $1
       UNION ALL SELECT unnest($2::bigint[])),
     starts AS (
       SELECT u.a + 1 AS s FROM used u
        WHERE u.a + 1 <= $3 AND NOT EXISTS (SELECT 1 FROM used v WHERE v.a = u.a + 1)
        ORDER BY u.a LIMIT $4)
     SELECT g AS a FROM starts, LATERAL generate_series(starts.s, LEAST($3::bigint, starts.s + $4 - 1)) AS g
      WHERE NOT EXISTS (SELECT 1 FROM used v WHERE v.a = g)
      ORDER BY g LIMIT $4`,
    [net.id, sentinels, r.last, limit],
  );
  return rows.map((x) => intToIp4(Number(x.a)));
}

/** Lowest free address of the network; 409 pool_exhausted naming the network when there is none. */
export async function allocateIp(q: Queryable, net: NetRef, op: string, pool?: string[]): Promise<string> {
  if (pool && pool.length === 0) pool.push(...(await freeAddresses(q, net, 64)));
  const ip = pool ? pool.shift() : (await freeAddresses(q, net, 1))[0];
  if (!ip) throw new ApiError('pool_exhausted', `${op}: network ${net.name} (${net.cidr}) has no free address`);
  return ip;
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

/**
 * Lowest VNI not in use by any tenant (a SECURITY DEFINER function: a tenant-scoped caller sees
 * only its own networks). Callers serialise with an advisory lock; the unique key catches the rest.
 */
export async function allocateVni(q: Queryable, op: string): Promise<number> {
  const { rows } = await q.query<{ v: number | null }>('SELECT freight_free_vni() AS v');
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
