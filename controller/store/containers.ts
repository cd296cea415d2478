import type { Queryable } from './db.js';
import type { ContainerCreate } from '../../protocol/api.js';
import type { Labels } from '../../protocol/meta.js';
import { ApiError } from '../errors.js';
import { assignNode, chooseNode, nodeLoads, portKey, unplacedReason, withTakenPorts, type NodeLoad } from '../scheduler.js';
import { randomUUID } from 'node:crypto';
import { claimAddress, type NetRef } from './alloc.js';
import { flushCreates, type DeferredCreate, type NewContainer } from './container-insert.js';
import { filterSql, type ListFilter } from './filters.js';
import { decodeCursor, toPage, type Page } from './paging.js';
import type { Tenant } from './tenants.js';
import { GROUP_NAMES_SQL, insertMemberships, resolveGroups } from './security-groups.js';

export interface Container {
  id: string;
  tenant: string;
  name: string;
  /** `infra`: a network's infra instance (DHCP and DNS), shown and logged like a container, made by the controller */
  kind: 'container' | 'infra';
  image: string;
  command: string[];
  boot: boolean;
  restart: string;
  node: string | null;
  desiredState: string;
  observedState: string;
  exitCode: number | null;
  reason: string | null;
  restarts: number;
  /** limits: memory in bytes, CPU quota in cores (null: none), tasks */
  memory: number;
  cpus: number | null;
  pids: number;
  endpoints: Array<{ network: string; ip: string; mac: string }>;
  publish: Array<{ hostPort: number; port: number; proto: string; hostIp: string | null }>;
  /** effective security groups (the tenant's default when it lists none; none for infra instances) */
  securityGroups: string[];
  description: string | null;
  labels: Labels;
  createdAt: string;
  updatedAt: string;
}
interface Row {
  id: string;
  tenant: string;
  name: string;
  kind: 'container' | 'infra';
  image: string;
  command: string[];
  boot: boolean;
  restart: string;
  node: string | null;
  desired_state: string;
  observed_state: string;
  exit_code: number | null;
  reason: string | null;
  restarts: number;
  memory_bytes: string | number;
  cpu_millis: number | null;
  pids_max: number;
  created_at: Date | string;
  updated_at: Date | string;
  description: string | null;
  labels: Labels;
  endpoints: Array<{ network: string; ip: string; mac: string }> | string;
  publish: Container['publish'] | string;
  security_groups: string[] | null;
}
const SELECT = `
  SELECT c.id, t.name AS tenant, c.name, c.kind, c.image, c.command, c.boot, c.restart, nd.name AS node, c.desired_state,
         c.observed_state, c.exit_code, c.reason, c.restarts, c.memory_bytes, c.cpu_millis, c.pids_max, c.created_at,
         c.updated_at, c.description, c.labels,
         COALESCE((SELECT json_agg(json_build_object('network', n.name, 'ip', host(e.ip), 'mac', e.mac::text) ORDER BY e.ifindex)
                     FROM endpoints e JOIN networks n ON n.id = e.network_id WHERE e.container_id = c.id), '[]') AS endpoints,
         COALESCE((SELECT json_agg(json_build_object('hostPort', p.host_port, 'port', p.port, 'proto', p.proto, 'hostIp', host(p.host_ip))
                            ORDER BY p.proto, p.host_port) FROM published_ports p WHERE p.container_id = c.id), '[]') AS publish,
         ${GROUP_NAMES_SQL} AS security_groups
    FROM containers c JOIN tenants t ON t.id = c.tenant_id LEFT JOIN nodes nd ON nd.id = c.node_id`;
const toContainer = (r: Row): Container => ({
  id: r.id,
  tenant: r.tenant,
  name: r.name,
  kind: r.kind,
  image: r.image,
  command: r.command,
  boot: r.boot,
  restart: r.restart,
  node: r.node,
  desiredState: r.desired_state,
  observedState: r.observed_state,
  exitCode: r.exit_code,
  reason: r.reason,
  restarts: r.restarts,
  memory: Number(r.memory_bytes),
  cpus: r.cpu_millis === null ? null : r.cpu_millis / 1000,
  pids: r.pids_max,
  endpoints: typeof r.endpoints === 'string' ? JSON.parse(r.endpoints) : r.endpoints,
  publish: typeof r.publish === 'string' ? JSON.parse(r.publish) : r.publish,
  securityGroups: r.security_groups ?? [],
  description: r.description,
  labels: r.labels ?? {},
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/** A container, or a network's infra instance by its name (`infra-<network>`: ordinary containers cannot take such names). */
export async function getContainer(q: Queryable, t: Tenant, name: string, op: string): Promise<Container> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE c.tenant_id = $1 AND c.name = $2 ORDER BY c.kind = 'infra' LIMIT 1`, [t.id, name]);
  if (!rows[0]) throw new ApiError('container_not_found', `${op}: container ${name} not found in tenant ${t.name}`);
  return toContainer(rows[0]);
}

export async function listContainers(
  q: Queryable,
  t: Tenant,
  limit: number,
  after?: string,
  filter?: ListFilter,
): Promise<Page<Container>> {
  const cur = decodeCursor(after, 1);
  const params: unknown[] = [t.id, cur?.[0] ?? null, limit + 1];
  const where = filterSql(
    filter,
    'c.labels',
    {
      image: 'c.image = $?',
      node: 'nd.name = $?',
      state: 'c.desired_state = $?',
      observed: 'c.observed_state = $?',
      network: 'EXISTS (SELECT 1 FROM endpoints e JOIN networks n ON n.id = e.network_id WHERE e.container_id = c.id AND n.name = $?)',
    },
    params,
  );
  const { rows } = await q.query<Row>(
    `${SELECT} WHERE c.tenant_id = $1 AND c.kind = 'container' AND ($2::text IS NULL OR c.name > $2)${where} ORDER BY c.name LIMIT $3`,
    params,
  );
  return toPage(rows, limit, (r) => [r.name], toContainer);
}

/**
 * What one transaction already knows: networks it has locked (a lock lasts until commit)
 * and the node loads it has seen and changed. Lets the creates of one batch skip queries.
 */
export interface TxMemo {
  nets: Map<string, NetRef>;
  /** Per network id: addresses known free in this transaction (lowest first). */
  free: Map<string, string[]>;
  loads?: NodeLoad[];
  /** whether `loads` carry the published ports each node holds (read once, for the first create that publishes) */
  ports?: boolean;
  /** per tenant id: whether it has image repositories (read once per batch: api/containers.ts) */
  repos?: Map<string, boolean>;
  /** creates not written yet: the batch writes them in one statement (flushCreates) before a scope switch and its commit.
   *  Absent: each create is written at once. */
  deferred?: DeferredCreate[];
}
export const newMemo = (): TxMemo => ({ nets: new Map(), free: new Map() });
/** A memo whose creates are deferred: its transaction must call flushCreates before it commits (batch.ts). */
export const batchMemo = (): TxMemo => ({ ...newMemo(), deferred: [] });

/** The networks a container joins, locked in id order (no deadlocks) so allocation is exclusive per network. */
export async function lockNetworks(q: Queryable, t: Tenant, names: string[], op: string, memo: TxMemo): Promise<Map<string, NetRef>> {
  const key = (n: string) => `${t.id}/${n}`;
  const wanted = names.filter((n) => !memo.nets.has(key(n)));
  if (wanted.length > 0) {
    const { rows } = await q.query<Omit<NetRef, 'pools'> & { pools: NetRef['pools'] | null }>(
      `SELECT n.id, n.name, n.cidr::text AS cidr, host(n.gateway) AS gateway, n.vni, n.physical_network AS physical,
              (SELECT json_agg(json_build_object('start', host(p.first_ip), 'end', host(p.last_ip)) ORDER BY p.first_ip)
                 FROM network_pools p WHERE p.network_id = n.id) AS pools
         FROM networks n WHERE n.tenant_id = $1 AND n.name = ANY($2::text[]) ORDER BY n.id FOR UPDATE OF n`,
      [t.id, wanted],
    );
    for (const r of rows) memo.nets.set(key(r.name), { ...r, vni: r.vni === null ? null : Number(r.vni), pools: r.pools ?? [] });
  }
  const missing = names.find((n) => !memo.nets.has(key(n)));
  if (missing) throw new ApiError('network_not_found', `${op}: network ${missing} not found in tenant ${t.name}`);
  return new Map(names.map((n) => [n, memo.nets.get(key(n))!]));
}

/** The least loaded ready node that maps every physical network in `needs`, or the pinned one (which must map them). */
async function pickNode(
  q: Queryable,
  requested: string | undefined,
  needs: string[],
  ports: string[],
  op: string,
  memo: TxMemo,
): Promise<{ id: string; name: string } | null> {
  if (requested === undefined) {
    memo.loads ??= await nodeLoads(q, true);
    if (ports.length > 0 && !memo.ports) {
      memo.loads = await withTakenPorts(q, memo.loads);
      memo.ports = true;
    }
    // a node where a port is taken is passed over: the container goes elsewhere or stays pending
    const n = chooseNode(memo.loads, needs, ports);
    if (n) {
      n.containers++;
      for (const k of ports) n.taken?.add(k);
    }
    return n;
  }
  const { rows } = await q.query<{ id: string; physical: string[] }>(
    `SELECT id, ARRAY(SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(capabilities -> 'physicalNetworks') = 'object'
                                                 THEN capabilities -> 'physicalNetworks' ELSE '{}'::jsonb END)) AS physical
       FROM nodes WHERE name = $1`,
    [requested],
  );
  if (!rows[0]) throw new ApiError('node_not_found', `${op}: node ${requested} not found`);
  const missing = needs.find((p) => !rows[0].physical.includes(p));
  if (missing !== undefined)
    throw new ApiError('node_lacks_physical_network', `${op}: node ${requested} does not map physical network ${missing}`, 'node');
  const known = memo.loads?.find((l) => l.id === rows[0].id);
  if (known) known.containers++;
  return { id: rows[0].id, name: requested };
}

const cpuMillis = (cpus: number | undefined): number | null => (cpus === undefined ? null : Math.max(10, Math.round(cpus * 1000)));

/** The row createContainer writes. */
function newRow(
  t: Tenant,
  body: ContainerCreate,
  nodeId: string | null,
  reason: string | null,
  endpoints: NewContainer['endpoints'],
): NewContainer {
  return {
    tenantId: t.id,
    name: body.name,
    image: body.image,
    command: body.command,
    boot: body.boot,
    restart: body.restart,
    nodeId,
    memory: body.memory,
    cpuMillis: cpuMillis(body.cpus),
    pids: body.pids,
    reason,
    description: body.description ?? null,
    labels: body.labels ?? {},
    endpoints,
  };
}

/** What the API answers for a new container; its timestamps are set when the row is written (flushCreates), before the commit. */
function shownContainer(
  id: string,
  t: Tenant,
  body: ContainerCreate,
  node: string | null,
  reason: string | null,
  row: NewContainer,
  securityGroups: string[],
): Container {
  return {
    id,
    tenant: t.name,
    name: body.name,
    kind: 'container',
    image: body.image,
    command: body.command,
    boot: body.boot,
    restart: body.restart,
    node,
    desiredState: 'running',
    observedState: 'pending',
    exitCode: null,
    reason,
    restarts: 0,
    memory: body.memory,
    cpus: row.cpuMillis === null ? null : row.cpuMillis / 1000,
    pids: body.pids,
    endpoints: row.endpoints.map((e) => ({ network: e.net.name, ip: e.ip, mac: e.mac })),
    publish: body.publish.map((p) => ({ hostPort: p.hostPort, port: p.port, proto: p.proto, hostIp: p.hostIp ?? null })),
    securityGroups,
    description: body.description ?? null,
    labels: body.labels ?? {},
    createdAt: '',
    updatedAt: '',
  };
}

/**
 * Creates a container: locks its networks, schedules it, allocates one address and MAC per
 * network, then writes the container and its endpoints in one statement. The change-log lock
 * (taken by the first trigger) is held only for that statement and the commit.
 */
export async function createContainer(
  q: Queryable,
  t: Tenant,
  body: ContainerCreate,
  op: string,
  memo: TxMemo = newMemo(),
): Promise<Container> {
  const names = body.networks.map((n) => n.network);
  const dup = names.findIndex((n, i) => names.indexOf(n) !== i);
  if (dup >= 0) throw new ApiError('invalid', `${op}: network ${names[dup]} listed twice`, `networks.${dup}`);
  const nets = await lockNetworks(q, t, names, op, memo);
  const needs = [...new Set(names.map((n) => nets.get(n)!.physical).filter((p): p is string => p !== null))].sort();
  const ports = body.publish.map(portKey);
  const node = await pickNode(q, body.node, needs, ports, op, memo);
  const reason = node ? null : unplacedReason(needs, memo.loads, ports);
  // resolved before anything is written: a job of a batch may fail only before it writes
  const groups = await resolveGroups(q, t, body.securityGroups ?? [], op);
  // an endpoint read must see the batch's creates: write the deferred ones first
  const reads = body.networks.some((a) => a.ip !== undefined || a.mac !== undefined || !memo.free.get(nets.get(a.network)!.id)?.length);
  if (reads) await flushCreates(q, memo.deferred);
  const endpoints: NewContainer['endpoints'] = [];
  for (const [i, att] of body.networks.entries()) {
    const net = nets.get(att.network)!;
    if (!memo.free.has(net.id)) memo.free.set(net.id, []);
    const { ip, mac } = await claimAddress(q, net, att, op, `networks.${i}`, memo.free.get(net.id), 'caller');
    endpoints.push({ net, ip, mac, chosenMac: att.mac !== undefined });
  }
  const id = randomUUID();
  const row = newRow(t, body, node?.id ?? null, reason, endpoints);
  const created = shownContainer(id, t, body, node?.name ?? null, reason, row, groups.names);
  // ports and groups refer to the row: only a create without them waits for the batch's one insert
  const mine = { id, row, shown: created };
  if (memo.deferred && body.publish.length === 0 && groups.ids.length === 0) memo.deferred.push(mine);
  else {
    // with what the batch deferred so far, in the same statement
    await flushCreates(q, [...(memo.deferred?.splice(0) ?? []), mine]);
    if (body.publish.length > 0) await insertPublished(q, t, id, node?.id ?? null, body, nets, op);
    await insertMemberships(q, t, id, groups.ids);
  }
  return created;
}

/** Published ports reach the container through a router: one of its networks must be attached to one. */
async function insertPublished(
  q: Queryable,
  t: Tenant,
  containerId: string,
  nodeId: string | null,
  body: ContainerCreate,
  nets: Map<string, NetRef>,
  op: string,
): Promise<void> {
  const ids = [...nets.values()].map((n) => n.id);
  await writePublished(q, t, { id: containerId, nodeId, networkIds: ids }, body.publish, op);
}

/**
 * Replaces a container's published ports with `list` (create and PATCH). The unique index per node
 * address, protocol and port refuses one another container holds (409 port_in_use); the
 * published_ports trigger logs the container, so its node's view follows.
 */
export async function writePublished(
  q: Queryable,
  t: Tenant,
  c: { id: string; nodeId: string | null; networkIds: string[] },
  list: ReadonlyArray<{ proto: string; hostPort: number; port: number; hostIp?: string | null }>,
  op: string,
): Promise<void> {
  await q.query('DELETE FROM published_ports WHERE container_id = $1', [c.id]);
  if (list.length === 0) return;
  const routed = await q.query('SELECT 1 FROM networks WHERE id = ANY($1::uuid[]) AND router_id IS NOT NULL', [c.networkIds]);
  if (routed.rows.length === 0)
    throw new ApiError('invalid', `${op}: publishing ports needs a network attached to a router (freightctl router attach)`, 'publish');
  await q.query(
    `INSERT INTO published_ports (container_id, tenant_id, proto, host_port, port, host_ip, node_id)
     SELECT $1, $2, x.proto, x.host_port, x.port, x.host_ip, $3
       FROM unnest($4::text[], $5::int[], $6::int[], $7::inet[]) AS x(proto, host_port, port, host_ip)`,
    [
      c.id,
      t.id,
      c.nodeId,
      list.map((p) => p.proto),
      list.map((p) => p.hostPort),
      list.map((p) => p.port),
      list.map((p) => p.hostIp ?? null),
    ],
  );
}

export async function deleteContainer(q: Queryable, t: Tenant, name: string, op: string): Promise<void> {
  const { rows } = await q.query("DELETE FROM containers WHERE tenant_id = $1 AND name = $2 AND kind = 'container' RETURNING id", [
    t.id,
    name,
  ]);
  if (!rows[0]) throw new ApiError('container_not_found', `${op}: container ${name} not found in tenant ${t.name}`);
}

export async function setDesiredState(q: Queryable, t: Tenant, name: string, state: 'running' | 'stopped', op: string): Promise<Container> {
  const { rows } = await q.query(
    "UPDATE containers SET desired_state = $3, updated_at = now() WHERE tenant_id = $1 AND name = $2 AND kind = 'container' RETURNING id",
    [t.id, name, state],
  );
  if (!rows[0]) throw new ApiError('container_not_found', `${op}: container ${name} not found in tenant ${t.name}`);
  return getContainer(q, t, name, op);
}

export { assignNode };

/** Containers of either kind by id, as the API shows them plus their kind: the events stream's loader. */
export async function containersByIds(q: Queryable, ids: string[]): Promise<Array<Container & { kind: string }>> {
  const { rows } = await q.query<Row & { kind: string }>(
    `SELECT s.*, k.kind FROM (${SELECT} WHERE c.id = ANY($1::uuid[])) s JOIN containers k ON k.id = s.id`,
    [ids],
  );
  return rows.map((r) => ({ ...toContainer(r), kind: r.kind }));
}
