import type { Queryable } from '../store/db.js';
import { ipsecKeyAad, type Sealer } from '../secrets/sealer.js';
import { applyRefresh, type Refresh } from './apply.js';
import { paramsOf } from '../store/networks.js';
import type { ChangeRow } from './diff.js';
import type { ViewSecurityGroup, ViewSecurityRule } from '../../protocol/view.js';
import { PORTS_JSON } from '../store/security-groups.js';
import {
  emptyState,
  type ClusterState,
  type ContainerRow,
  type EndpointRow,
  type KeyRow,
  type NetworkRow,
  type NodeRow,
  type RepoRow,
} from './state.js';

/**
 * A container's effective groups (schema.sql freight_effective_groups, inlined: a function with a
 * pinned search_path is not inlined, and the full load reads every container). Their rules are
 * read once per load for all of them (groupsById), not once per container.
 */
const GROUPS_SQL = `CASE WHEN c.kind = 'container' THEN COALESCE(
    (SELECT array_agg(m.group_id::text ORDER BY m.group_id) FROM container_security_groups m WHERE m.container_id = c.id),
    ARRAY(SELECT g.id::text FROM security_groups g WHERE g.tenant_id = c.tenant_id AND g.name = 'default')) END`;
const GROUP_RULES_SQL = `SELECT g.id::text, g.name, COALESCE((
    SELECT json_agg(json_strip_nulls(json_build_object('id', r.id::text, 'direction', r.direction, 'proto', r.proto,
             'portMin', r.port_min, 'portMax', r.port_max, 'ports', ${PORTS_JSON},
             'remoteCidr', r.remote_cidr::text, 'remoteGroup', r.remote_group_id::text))
             ORDER BY r.id) FROM security_group_rules r WHERE r.group_id = g.id), '[]'::json) AS rules
  FROM security_groups g WHERE g.id = ANY($1::uuid[])`;

/** SQL that loads the cluster model; `$1` (uuid[]) restricts to touched ids when given. */
const SQL = {
  nodes: `SELECT id::text, name, host(underlay_ip) AS ip, underlay_mtu, ready, capabilities -> 'physicalNetworks' AS physical FROM nodes`,
  networks: `SELECT n.id::text, n.tenant_id::text, t.name AS tenant, n.name, n.type, n.vni, n.cidr::text AS cidr,
             host(n.gateway) AS gateway, n.mtu, n.domain, n.tunnel_port, n.rotate_hours, n.physical_network, n.vlan, n.dhcp,
             n.dhcp_options, n.dns_upstreams,
             r.id::text AS router_id, r.name AS router_name, r.external AS router_external, r.slot AS router_slot,
             x.id::text AS ext_id, x.physical_network AS ext_physical, x.vlan AS ext_vlan, x.cidr::text AS ext_cidr,
             host(x.gateway) AS ext_gateway, x.mtu AS ext_mtu,
             (SELECT json_object_agg(g.node_id::text, host(g.ip)) FROM router_gateways g
               WHERE g.router_id = r.id AND g.network_id = x.id) AS ext_ips
             FROM networks n JOIN tenants t ON t.id = n.tenant_id LEFT JOIN routers r ON r.id = n.router_id
             LEFT JOIN networks x ON x.id = r.external_network_id AND x.external`,
  containers: `SELECT c.id::text, c.tenant_id::text, t.name AS tenant, c.name, c.kind, c.network_id::text, c.image,
               c.command, c.boot, c.restart, c.node_id::text, c.desired_state, c.generation, c.memory_bytes, c.cpu_millis, c.pids_max,
               (SELECT json_agg(json_build_object('proto', p.proto, 'hostPort', p.host_port, 'port', p.port, 'hostIp', host(p.host_ip))
                                ORDER BY p.proto, p.host_port) FROM published_ports p WHERE p.container_id = c.id) AS publish,
               ${GROUPS_SQL} AS groups,
               (SELECT json_agg(json_build_object('ip', host(f.ip), 'network', f.network_id::text) ORDER BY f.ip)
                  FROM floating_ips f WHERE f.container_id = c.id) AS floating_ips
               FROM containers c JOIN tenants t ON t.id = c.tenant_id`,
  endpoints: `SELECT id::text, network_id::text, container_id::text, ifindex, mac::text AS mac, host(ip) AS ip, node_id::text, plugged
                FROM endpoints`,
  keys: `SELECT id::text, network_id::text, node_a::text, node_b::text, generation, spi_ab, spi_ba, key_ab, key_ba, phase FROM ipsec_keys`,
  repos: `SELECT id::text, tenant_id::text, name, url, public_key FROM image_repositories`,
};
const ALIAS = { nodes: '', networks: 'n.', containers: 'c.', endpoints: '', keys: '', repos: '' } as const;

type Raw = Record<string, unknown>;
const str = (v: unknown) => String(v);
const strOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));

const toNode = (r: Raw): NodeRow => ({
  id: str(r.id),
  name: str(r.name),
  underlayIp: str(r.ip),
  underlayMtu: Number(r.underlay_mtu),
  ready: Boolean(r.ready),
  physicalMtus: physicalMtus(r.physical),
});

/** `capabilities.physicalNetworks` (name → { interface, mtu }) → name → mtu; anything malformed is skipped. */
function physicalMtus(v: unknown): Record<string, number> {
  const raw = typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
  const out: Record<string, number> = {};
  if (!raw || typeof raw !== 'object') return out;
  for (const [name, m] of Object.entries(raw as Record<string, { mtu?: unknown }>)) {
    if (m && typeof m === 'object' && Number.isInteger(m.mtu)) out[name] = Number(m.mtu);
  }
  return out;
}
const toNetwork = (r: Raw): NetworkRow => ({
  id: str(r.id),
  tenantId: str(r.tenant_id),
  tenant: str(r.tenant),
  name: str(r.name),
  type: r.type as NetworkRow['type'],
  vni: r.vni === null ? null : Number(r.vni),
  params: paramsOf(r as Parameters<typeof paramsOf>[0]),
  dhcp: r.dhcp !== false,
  cidr: str(r.cidr),
  gateway: strOrNull(r.gateway),
  mtu: r.mtu === null ? null : Number(r.mtu),
  domain: str(r.domain),
  router:
    r.router_id === null || r.router_id === undefined
      ? null
      : {
          id: str(r.router_id),
          name: str(r.router_name),
          external: Boolean(r.router_external),
          slot: Number(r.router_slot),
          ...externalOf(r),
        },
  dhcpOptions: (r.dhcp_options as NetworkRow['dhcpOptions'] | null) ?? {},
  dnsUpstreams: (r.dns_upstreams as string[] | null) ?? null,
});
const toContainer = (r: Raw): ContainerRow => ({
  id: str(r.id),
  tenantId: str(r.tenant_id),
  tenant: str(r.tenant),
  name: str(r.name),
  kind: r.kind as ContainerRow['kind'],
  networkId: strOrNull(r.network_id),
  image: str(r.image),
  command: (r.command as string[] | null) ?? [],
  boot: Boolean(r.boot),
  restart: r.restart as ContainerRow['restart'],
  nodeId: strOrNull(r.node_id),
  desired: r.desired_state as ContainerRow['desired'],
  generation: Number(r.generation),
  memory: Number(r.memory_bytes),
  cpuMillis: r.cpu_millis === null || r.cpu_millis === undefined ? null : Number(r.cpu_millis),
  pids: Number(r.pids_max),
  publish: publishOf(r.publish),
  ...(r.kind === 'container' && Array.isArray(r.groups) ? { groups: (r.groups as string[]).map(String) } : {}),
  floatingIps: jsonOf<Array<{ ip: string; network: string }>>(r.floating_ips) ?? [],
});

type RawRule = Omit<ViewSecurityRule, 'ports'> & { ports?: Array<[number, number]> };

/**
 * A rule as nodes get it: one range as portMin/portMax; a set of several also as `ports`, with
 * portMin/portMax its first range (a reader that knows no `ports` allows less, not more).
 */
function viewRule({ ports, ...x }: RawRule): ViewSecurityRule {
  if (x.portMin === undefined || !ports) return x;
  if (ports.length === 1) return { ...x, portMin: Number(x.portMin), portMax: Number(x.portMax) };
  const set = ports.map(([a, b]): [number, number] => [Number(a), Number(b)]);
  return { ...x, portMin: set[0][0], portMax: set[0][1], ports: set };
}

/** The groups (with their rules) of these containers, attached as their `securityGroups`. */
async function attachGroups(q: Queryable, containers: ContainerRow[]): Promise<void> {
  const ids = [...new Set(containers.flatMap((c) => c.groups ?? []))];
  if (ids.length === 0) {
    for (const c of containers) if (c.groups) c.securityGroups = [];
    return;
  }
  const { rows } = await q.query<Raw>(GROUP_RULES_SQL, [ids]);
  const byId = new Map<string, ViewSecurityGroup>();
  for (const r of rows) {
    const rules = (typeof r.rules === 'string' ? JSON.parse(r.rules) : r.rules) as ViewSecurityGroup['rules'];
    byId.set(str(r.id), {
      id: str(r.id),
      name: str(r.name),
      rules: rules.map(viewRule),
    });
  }
  // one object per group, shared by its members (the view items compare by value)
  for (const c of containers) if (c.groups) c.securityGroups = c.groups.map((g) => byId.get(g)).filter((g): g is ViewSecurityGroup => !!g);
}
const jsonOf = <T>(v: unknown): T | null => (v === null || v === undefined ? null : ((typeof v === 'string' ? JSON.parse(v) : v) as T));

/** The router's external network (mtu 0: the node's mapped interface's, resolved by the compiler) and the nodes' addresses on it. */
function externalOf(r: Raw): Partial<NonNullable<NetworkRow['router']>> {
  if (r.ext_id === null || r.ext_id === undefined) return {};
  return {
    externalNetwork: {
      id: str(r.ext_id),
      physicalNetwork: str(r.ext_physical),
      ...(r.ext_vlan === null || r.ext_vlan === undefined ? {} : { vlan: Number(r.ext_vlan) }),
      cidr: str(r.ext_cidr),
      gateway: strOrNull(r.ext_gateway),
      mtu: r.ext_mtu === null || r.ext_mtu === undefined ? 0 : Number(r.ext_mtu),
    },
    externalIps: jsonOf<Record<string, string>>(r.ext_ips) ?? {},
  };
}
function publishOf(v: unknown): ContainerRow['publish'] {
  const list = (typeof v === 'string' ? JSON.parse(v) : (v ?? [])) as Array<{
    proto: 'tcp' | 'udp';
    hostPort: number;
    port: number;
    hostIp: string | null;
  }>;
  return list.map((p) => ({
    proto: p.proto,
    hostPort: Number(p.hostPort),
    port: Number(p.port),
    ...(p.hostIp ? { hostIp: p.hostIp } : {}),
  }));
}
const toEndpoint = (r: Raw): EndpointRow => ({
  id: str(r.id),
  networkId: str(r.network_id),
  containerId: str(r.container_id),
  ifindex: Number(r.ifindex),
  mac: str(r.mac).toLowerCase(),
  ip: str(r.ip),
  nodeId: strOrNull(r.node_id),
  ...(r.plugged === true ? { plugged: true } : {}),
});
const toKey = (r: Raw): KeyRow => ({
  id: str(r.id),
  networkId: str(r.network_id),
  nodeA: str(r.node_a),
  nodeB: str(r.node_b),
  generation: Number(r.generation),
  spiAb: Number(r.spi_ab),
  spiBa: Number(r.spi_ba),
  keyAb: str(r.key_ab),
  keyBa: str(r.key_ba),
  phase: r.phase as KeyRow['phase'],
});

/**
 * How key rows are read: opened with the master key, or (null) not at all. A controller that
 * serves plaintext streams loads no key row, so no view it compiles can carry key material.
 */
export type KeyAccess = Sealer | null;

const openKey = (k: KeyRow, sealer: Sealer): KeyRow => ({
  ...k,
  keyAb: sealer.open(k.keyAb, ipsecKeyAad(k, 'ab')),
  keyBa: sealer.open(k.keyBa, ipsecKeyAad(k, 'ba')),
});

const toRepo = (r: Raw): RepoRow => ({
  id: str(r.id),
  tenantId: str(r.tenant_id),
  name: str(r.name),
  url: str(r.url),
  publicKey: str(r.public_key),
});

const MAP = { nodes: toNode, networks: toNetwork, containers: toContainer, endpoints: toEndpoint, keys: toKey, repos: toRepo } as const;
type Kind = keyof typeof MAP;

async function rowsOf<K extends Kind>(q: Queryable, kind: K, keys: KeyAccess, ids?: string[]): Promise<Array<ReturnType<(typeof MAP)[K]>>> {
  if (kind === 'keys' && !keys) return [];
  const sql = ids ? `${SQL[kind]} WHERE ${ALIAS[kind]}id = ANY($1::uuid[])` : SQL[kind];
  const { rows } = await q.query<Raw>(sql, ids ? [ids] : []);
  const out = rows.map((r) => MAP[kind](r) as ReturnType<(typeof MAP)[K]>);
  if (kind === 'containers') await attachGroups(q, out as ContainerRow[]);
  return kind === 'keys' ? ((out as KeyRow[]).map((k) => openKey(k, keys!)) as typeof out) : out;
}

/** Loads the whole model and the newest revision, from one consistent snapshot of the database. */
export async function loadState(q: Queryable, access: KeyAccess): Promise<{ state: ClusterState; revision: number }> {
  const [nodes, networks, containers, endpoints, keys, repos, rev] = [
    await rowsOf(q, 'nodes', access),
    await rowsOf(q, 'networks', access),
    await rowsOf(q, 'containers', access),
    await rowsOf(q, 'endpoints', access),
    await rowsOf(q, 'keys', access),
    await rowsOf(q, 'repos', access),
    await q.query<{ r: string | null }>('SELECT max(revision)::text AS r FROM change_log'),
  ];
  const state = emptyState();
  const pairs = <T extends { id: string }>(rows: T[]) => rows.map((r) => [r.id, r] as [string, T]);
  applyRefresh(state, {
    nodes: pairs(nodes),
    networks: pairs(networks),
    containers: pairs(containers),
    endpoints: pairs(endpoints),
    keys: pairs(keys),
    repos: pairs(repos),
  });
  return { state, revision: Number(rev.rows[0]?.r ?? 0) };
}

const KIND_OF_LOG: Record<string, Kind> = {
  nodes: 'nodes',
  networks: 'networks',
  containers: 'containers',
  endpoints: 'endpoints',
  ipsec_keys: 'keys',
  image_repositories: 'repos',
};

/** Re-reads every object the change rows name; missing objects come back as `null` (deleted). */
export async function loadRefresh(q: Queryable, rows: ChangeRow[], access: KeyAccess): Promise<Refresh> {
  const ids: Record<Kind, Set<string>> = {
    nodes: new Set(),
    networks: new Set(),
    containers: new Set(),
    endpoints: new Set(),
    keys: new Set(),
    repos: new Set(),
  };
  for (const r of rows) {
    const kind = KIND_OF_LOG[r.kind];
    if (kind) ids[kind].add(r.objectId);
  }
  const refresh: Refresh = {};
  for (const kind of Object.keys(ids) as Kind[]) {
    if (ids[kind].size === 0) continue;
    const want = [...ids[kind]];
    const found = new Map((await rowsOf(q, kind, access, want)).map((r) => [r.id, r]));
    (refresh as Record<Kind, Array<[string, unknown]>>)[kind] = want.map((id) => [id, found.get(id) ?? null]);
  }
  return refresh;
}

/** Change-log rows after `after`, oldest first. */
export async function readChanges(q: Queryable, after: number, upTo?: number, limit = 10_000): Promise<ChangeRow[]> {
  const { rows } = await q.query<Raw>(
    `SELECT revision::text AS revision, kind, object_id::text AS object_id, op, network_id::text AS network_id,
            node_ids::text[] AS node_ids,
            (extract(epoch FROM c.at) * 1000)::float8 AS at_ms
     FROM change_log c WHERE c.revision > $1 AND ($2::bigint IS NULL OR c.revision <= $2)
     ORDER BY c.revision LIMIT $3`, // the table's bigint, not the text alias: 10 sorts after 9
    [after, upTo ?? null, limit],
  );
  return rows.map((r) => ({
    revision: Number(r.revision),
    kind: str(r.kind),
    objectId: str(r.object_id),
    op: r.op as ChangeRow['op'],
    networkId: strOrNull(r.network_id),
    nodeIds: (r.node_ids as string[] | null) ?? [],
    at: Number(r.at_ms),
  }));
}

/** Oldest and newest revision the change log still holds (0 when empty). */
export async function logBounds(q: Queryable): Promise<{ oldest: number; newest: number }> {
  const { rows } = await q.query<{ lo: string | null; hi: string | null }>(
    'SELECT min(revision)::text AS lo, max(revision)::text AS hi FROM change_log',
  );
  return { oldest: Number(rows[0]?.lo ?? 0), newest: Number(rows[0]?.hi ?? 0) };
}
