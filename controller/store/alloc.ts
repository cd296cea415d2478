import { randomBytes } from 'node:crypto';
import type { Queryable } from './db.js';
import { ApiError } from '../errors.js';
import { hostRange, intToIp4 } from '../../protocol/addr.js';
import type { AddressPool } from '../../protocol/network-params.js';
import { allocationRanges, chosenAddressProblem, chosenMacProblem, macFor, randomMac, reservedAddresses } from '../ipam.js';

/** What allocation needs to know of a network (its row must be locked FOR UPDATE by the caller). */
export interface NetRef {
  id: string;
  name: string;
  cidr: string;
  gateway: string | null;
  /** null: a physical network (MACs are random then) */
  vni: number | null;
  /** the physical network it lies on, for scheduling */
  physical: string | null;
  /** allocation pools (empty: the host range) */
  pools: AddressPool[];
}

/**
 * The lowest free addresses of the network, ascending, at most `limit`. The ranges are the
 * network's pools, or its host range without pools; a gap starts at a range's first address
 * or after a used one (endpoints, gateway, infra; on an external network also its router
 * gateways and floating IPs) and runs to the next used address or the range's end. The caller
 * holds the network row lock, so the list stays free until it commits.
 */
export async function freeAddresses(q: Queryable, net: NetRef, limit: number): Promise<string[]> {
  const ranges = allocationRanges(net.cidr, net.pools);
  const sentinels = reservedAddresses(net.cidr, net.gateway, net.pools);
  const { rows } = await q.query<{ a: string }>(
    `WITH used AS MATERIALIZED (
       SELECT (ip - '0.0.0.0'::inet) AS a FROM endpoints WHERE network_id = $1
       UNION ALL SELECT unnest($2::bigint[])
       UNION ALL SELECT freight_external_used($1)),
     ranges AS (SELECT * FROM unnest($3::bigint[], $4::bigint[]) AS r(first, last)),
     starts AS (
       SELECT x.s, x.e FROM (
         SELECT r.first AS s, r.last AS e FROM ranges r
         UNION ALL SELECT u.a + 1, r.last FROM used u JOIN ranges r ON u.a + 1 BETWEEN r.first AND r.last) x
        WHERE NOT EXISTS (SELECT 1 FROM used v WHERE v.a = x.s)
        ORDER BY x.s LIMIT $5)
     SELECT g AS a FROM starts, LATERAL generate_series(starts.s, LEAST(starts.e, starts.s + $5 - 1)) AS g
      WHERE NOT EXISTS (SELECT 1 FROM used v WHERE v.a = g)
      ORDER BY g LIMIT $5`,
    [net.id, sentinels, ranges.map((r) => r.first), ranges.map((r) => r.last), limit],
  );
  return rows.map((x) => intToIp4(Number(x.a)));
}

/** Lowest free address of the network; 409 pool_exhausted naming the network when there is none. */
export async function allocateIp(q: Queryable, net: NetRef, op: string, pool?: string[]): Promise<string> {
  if (pool && pool.length === 0) pool.push(...(await freeAddresses(q, net, 64)));
  const ip = pool ? pool.shift() : (await freeAddresses(q, net, 1))[0];
  const where = net.pools.length ? net.pools.map((p) => `${p.start}-${p.end}`).join(', ') : net.cidr;
  if (!ip) throw new ApiError('pool_exhausted', `${op}: network ${net.name} (${where}) has no free address`);
  return ip;
}

/**
 * MAC from VNI + address: unique by construction on networks of /16 and narrower. Wider ones can
 * repeat it, and physical networks take random ones (a segment shared with hosts Freight does
 * not own): `checked` false then, and the caller checks it (allocateMac, or in its insert).
 */
export function firstMac(net: NetRef, ip: string): { mac: string; checked: boolean } {
  if (net.vni === null) return { mac: randomMac(randomBytes(5)), checked: false };
  return { mac: macFor(net.vni, ip), checked: hostRange(net.cidr).prefix >= 16 };
}

/** A MAC free on the network: the first one, else random ones until one is free. */
export async function allocateMac(q: Queryable, net: NetRef, ip: string): Promise<string> {
  const first = firstMac(net, ip);
  if (first.checked) return first.mac;
  let mac = first.mac;
  for (;;) {
    const { rows } = await q.query('SELECT 1 FROM endpoints WHERE network_id = $1 AND mac = $2::macaddr', [net.id, mac]);
    if (rows.length === 0) return mac;
    mac = randomMac(randomBytes(5));
  }
}

/** Who holds an address or MAC of the network: a container name, as far as the caller's scope shows it. */
async function holder(q: Queryable, net: NetRef, column: 'ip' | 'mac', value: string): Promise<string | null | undefined> {
  const cast = column === 'ip' ? 'inet' : 'macaddr';
  const { rows } = await q.query<{ name: string | null }>(
    `SELECT c.name FROM endpoints e LEFT JOIN containers c ON c.id = e.container_id WHERE e.network_id = $1 AND e.${column} = $2::${cast}`,
    [net.id, value],
  );
  return rows.length ? rows[0].name : undefined;
}

/**
 * The address and MAC of one network attachment: the chosen ones, checked (400 when the address
 * cannot be a container's, 409 address_reserved for the gateway or infra address, 409
 * address_in_use / mac_in_use naming the container that holds it), else allocated. Only reads:
 * the caller writes the endpoints in one statement afterwards (a refusal leaves nothing written).
 * `path`: where the attachment is in the body ('' at its top). `free`: the addresses this
 * transaction knows free; a chosen one leaves it. `macCheck` 'caller': an allocated MAC is not
 * checked here, the caller's insert must refuse a repeat (createContainer's does, in the same statement).
 */
export async function claimAddress(
  q: Queryable,
  net: NetRef,
  chosen: { ip?: string; mac?: string },
  op: string,
  path: string,
  free?: string[],
  macCheck: 'now' | 'caller' = 'now',
): Promise<{ ip: string; mac: string }> {
  const at = (field: string) => (path ? `${path}.${field}` : field);
  let ip: string;
  if (chosen.ip !== undefined) {
    ip = chosen.ip;
    const problem = chosenAddressProblem(ip, net);
    if (problem) throw new ApiError(problem.code, `${op}: network ${net.name}: ${problem.why}`, at('ip'));
    const by = await holder(q, net, 'ip', ip);
    if (by !== undefined)
      throw new ApiError(
        'address_in_use',
        `${op}: address ${ip} of network ${net.name} is in use${by ? ` by container ${by}` : ''}`,
        at('ip'),
      );
    if (free) {
      const i = free.indexOf(ip);
      if (i >= 0) free.splice(i, 1);
    }
  } else ip = await allocateIp(q, net, op, free);
  if (chosen.mac === undefined) return { ip, mac: macCheck === 'now' ? await allocateMac(q, net, ip) : firstMac(net, ip).mac };
  const why = chosenMacProblem(chosen.mac, ip, net.vni, net.cidr);
  if (why) throw new ApiError('invalid', `${op}: network ${net.name}: ${why}`, at('mac'));
  const by = await holder(q, net, 'mac', chosen.mac);
  if (by !== undefined)
    throw new ApiError(
      'mac_in_use',
      `${op}: MAC ${chosen.mac} of network ${net.name} is in use${by ? ` by container ${by}` : ''}`,
      at('mac'),
    );
  return { ip, mac: chosen.mac };
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
  e: {
    tenantId: string;
    networkId: string;
    containerId: string;
    ifindex: number;
    ip: string;
    mac: string;
    nodeId: string | null;
    /** plugged into an existing container (container attach) */
    plugged?: boolean;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO endpoints (tenant_id, network_id, container_id, ifindex, ip, mac, node_id, plugged)
     VALUES ($1, $2, $3, $4, $5::inet, $6::macaddr, $7, $8)`,
    [e.tenantId, e.networkId, e.containerId, e.ifindex, e.ip, e.mac, e.nodeId, e.plugged ?? false],
  );
}
