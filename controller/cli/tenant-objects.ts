import type { Command } from 'commander';
import type { z } from 'zod';
import { CliError, enc, listAll, splitRef, typed } from './client.js';
import { EndpointResponse, NetworkResponse } from '../../protocol/responses.js';
import { details } from './format.js';
import { emit, emitList, type Column, type Io } from './output.js';
import { EXIT } from './exit.js';
import { commaList, decimal, int, keyValue } from './parse.js';
import { listQuery, selectorOptions, type SelectorFlags } from './selectors.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Tenants to list over: the one given, else every tenant the token sees. */
async function tenantsOf(io: Io, tenant?: string): Promise<string[]> {
  if (tenant) return [tenant];
  return (await listAll<Row>(io.req, '/v1/tenants')).map((t) => t.name as string);
}

/** `A-B` → { start, end } (the API checks the addresses). */
function pool(v: string, prev: Array<{ start: string; end: string }>): Array<{ start: string; end: string }> {
  const m = /^([^-\s]+)-([^-\s]+)$/.exec(v);
  if (!m) throw new CliError('usage', `--pool: expected FIRST-LAST such as 192.168.10.100-192.168.10.199, got ${v}`, EXIT.usage);
  return [...prev, { start: m[1], end: m[2] }];
}

/** The per-type params from the type's options; undefined when none was given (the type's defaults). */
function paramsOf(o: Row): Row | undefined {
  const type = o.type as string;
  if (type === 'physical') return { type, physicalNetwork: o.physicalNetwork, ...(o.vlan !== undefined ? { vlan: o.vlan } : {}) };
  if ((type === 'vxlan' || type === 'geneve') && o.port !== undefined) return { type, port: o.port };
  if (type === 'ipsec' && o.rotateHours !== undefined) return { type, rotateHours: o.rotateHours };
  return undefined;
}

const describePhysical = (p: Row | undefined): string => `${p?.physicalNetwork}${p?.vlan ? ` vlan ${p.vlan}` : ' flat'}`;

/** No MTU set: each node uses its underlay MTU minus the encapsulation overhead (physical: its interface's). */
const mtuOf = (x: Row) => x.mtu ?? 'auto';
const labelsOf = (l: Record<string, string> | undefined) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

export const NETWORK_COLUMNS: Array<Column<Row>> = [
  { header: 'TENANT', get: (x) => x.tenant },
  { header: 'NAME', get: (x) => x.name },
  { header: 'TYPE', get: (x) => (x.type === 'physical' ? `physical ${describePhysical(x.params as Row)}` : x.type) },
  { header: 'VNI', get: (x) => x.vni },
  { header: 'CIDR', get: (x) => x.cidr },
  { header: 'GATEWAY', get: (x) => x.gateway },
  { header: 'MTU', get: mtuOf },
  { header: 'INFRA', get: (x) => x.infra?.ip },
  { header: 'INFRA NODE', get: (x) => x.infra?.node },
  { header: 'DOMAIN', get: (x) => x.domain, wide: true },
  { header: 'DHCP', get: (x) => x.dhcp, wide: true },
  { header: 'LABELS', get: (x) => labelsOf(x.labels), wide: true },
  { header: 'DESCRIPTION', get: (x) => x.description, wide: true },
];

/** A network as `network show` prints it: MTU as the list shows it, DHCP options and labels readable. */
function networkDetails(r: Row): string {
  return details({
    ...r,
    mtu: mtuOf(r),
    labels: labelsOf(r.labels) || undefined,
    dnsUpstreams: r.dnsUpstreams ?? "the node agent's --dns-upstream",
  });
}

/** `DEST=GW` → a DHCP option 121 route. */
const dhcpRoute = (v: string, prev: Row[] = []): Row[] => {
  const m = /^([^=]+)=([^=]+)$/.exec(v);
  if (!m) throw new CliError('usage', `--dhcp-route ${v}: expected DESTINATION=GATEWAY, e.g. 0.0.0.0/0=10.0.0.1`, EXIT.usage);
  return [...prev, { destination: m[1], gateway: m[2] }];
};

const NETWORK_HELP = `
Examples:
  freightctl network create acme/web --cidr 10.10.0.0/24
  freightctl network create acme/sec --type ipsec --cidr 10.20.0.0/24 --rotate-hours 6 --label tier=db
  freightctl network create acme/dc --type physical --physical-network datacenter --vlan 120 \\
    --cidr 192.168.120.0/24 --pool 192.168.120.50-192.168.120.99
  freightctl network list acme -l tier=db --filter type=ipsec -o wide
  freightctl network set acme/web --mtu 1400 --dhcp-ntp 10.10.0.5 --dns-upstream 192.0.2.53
  freightctl network unset acme/web --mtu --label tier
`;

export function networkCommands(program: Command, io: () => Io): void {
  const n = program
    .command('network')
    .description('tenant networks: create, list, show, change, delete')
    .addHelpText('after', NETWORK_HELP);
  n.command('create <tenant/name>')
    .description('create a network and its infra instance (DHCP and DNS at its highest host address)')
    .requiredOption('--cidr <cidr>', 'IPv4 network, e.g. 10.0.0.0/24')
    .option('--type <type>', 'vxlan | geneve | ipsec | physical (admin tokens only)', 'vxlan')
    .option('--mtu <n>', 'MTU inside the network (default: the node underlay MTU minus the encapsulation)', int)
    .option('--domain <domain>', 'DNS domain (default freight.internal)')
    .option('--gateway <ip>', 'gateway address')
    .option('--vni <n>', 'VNI, admin tokens only (default: a random free one)', int)
    .option('--port <n>', 'vxlan/geneve: UDP port of the tunnel (default 4789 / 6081)', int)
    .option('--rotate-hours <h>', "ipsec: key rotation period (default: the controller's --ipsec-rotate-hours)", decimal)
    .option('--physical-network <name>', 'physical: the physical network nodes map (freight-agent --physical-network NAME=IFACE)')
    .option('--vlan <id>', 'physical: 802.1Q VLAN ID 1-4094 (default: flat, untagged)', int)
    .option('--pool <first-last>', 'allocation pool, e.g. 192.168.10.100-192.168.10.199 (repeatable; required for physical)', pool, [])
    .option('--no-dhcp', 'nodes configure container addresses, routes and resolvers; the infra container serves DNS only')
    .option('--description <text>', 'free text')
    .option('--label <key=value>', 'a label (repeatable)', keyValue('KEY'))
    .option('--dhcp-route <dest=gw>', 'DHCP option 121 route, e.g. 0.0.0.0/0=10.0.0.1 (repeatable)', dhcpRoute)
    .option('--dhcp-ntp <ip,…>', 'DHCP option 42: NTP servers', commaList)
    .option('--dhcp-dns <ip,…>', "DHCP option 6: name servers after the network's own", commaList)
    .option('--dhcp-search <domain,…>', "DHCP option 119: search domains after the network's own zone", commaList)
    .option(
      '--dns-upstream <ip,…>',
      "where the infra forwards other names (default: the agent's --dns-upstream; none: --dns-upstream '')",
      commaList,
    )
    .option('--external', 'physical: an external network, for router gateways and floating IPs of every tenant')
    .action(async (ref: string, o: Row) => {
      const { tenant, name } = splitRef(ref);
      const body = {
        name,
        type: o.type,
        cidr: o.cidr,
        mtu: o.mtu,
        domain: o.domain,
        gateway: o.gateway,
        vni: o.vni,
        params: paramsOf(o),
        pools: (o.pool as unknown[]).length ? o.pool : undefined,
        dhcp: o.dhcp === false ? false : undefined,
        description: o.description,
        labels: o.label,
        dhcpOptions: dhcpOptionsOf(o),
        dnsUpstreams: o.dnsUpstream,
        external: o.external ? true : undefined,
      };
      const r = typed(NetworkResponse, await io().req('POST', `/v1/tenants/${enc(tenant)}/networks`, body), 'create network');
      const what = r.type === 'physical' ? describePhysical(r.params) : `vni ${r.vni}`;
      emit(io(), r, () => `network ${tenant}/${r.name} created: ${what}, ${r.cidr}, infra ${r.infra?.ip}\n`);
    });
  selectorOptions(
    n
      .command('list [tenant]')
      .description('list networks: of one tenant, or of every tenant the token sees')
      .addHelpText('after', '\nFilters (--filter): type, domain\n'),
  ).action(async (tenant: string | undefined, o: SelectorFlags) => {
    const items: NetworkResponse[] = [];
    for (const t of await tenantsOf(io(), tenant))
      items.push(...(await listAll(io().req, `/v1/tenants/${enc(t)}/networks${listQuery(o)}`, NetworkResponse)));
    emitList(io(), items, NETWORK_COLUMNS);
  });
  n.command('show <tenant/name>')
    .description('show a network: type, addresses, MTU, DHCP options, its infra instance')
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref);
      const r = typed(NetworkResponse, await io().req('GET', `/v1/tenants/${enc(tenant)}/networks/${enc(name!)}`), `network ${ref}`);
      emit(io(), r, () => networkDetails(r));
    });
  n.command('set <tenant/name>')
    .description('change a network in place (PATCH): the nodes apply it without restarting containers')
    .option('--mtu <n>', 'MTU inside the network', int)
    .option('--domain <domain>', 'DNS domain')
    .option('--description <text>', 'free text')
    .option('--label <key=value>', 'add or change a label (repeatable)', keyValue('KEY'))
    .option('--dhcp-route <dest=gw>', 'DHCP option 121 routes: the list given replaces the current one (repeatable)', dhcpRoute)
    .option('--dhcp-ntp <ip,…>', 'DHCP option 42: NTP servers (replaces)', commaList)
    .option('--dhcp-dns <ip,…>', 'DHCP option 6: extra name servers (replaces)', commaList)
    .option('--dhcp-search <domain,…>', 'DHCP option 119: extra search domains (replaces)', commaList)
    .option('--dns-upstream <ip,…>', "where the infra forwards other names (replaces; '' forwards nothing)", commaList)
    .option('--rotate-hours <h>', 'ipsec: key rotation period', decimal)
    .addHelpText('after', '\nExample:\n  freightctl network set acme/web --mtu 1400 --label tier=front --dhcp-ntp 10.10.0.5\n')
    .action(async (ref: string, o: Row) => {
      const patch = {
        mtu: o.mtu,
        domain: o.domain,
        description: o.description,
        labels: o.label,
        dhcpOptions: dhcpOptionsOf(o),
        dnsUpstreams: o.dnsUpstream,
        ...(o.rotateHours !== undefined ? { params: { rotateHours: o.rotateHours } } : {}),
      };
      await patchAndShow(
        io(),
        'network',
        ref,
        `/v1/tenants/${enc(splitRef(ref).tenant)}/networks/${enc(splitRef(ref).name!)}`,
        patch,
        networkDetails,
        NetworkResponse,
      );
    });
  n.command('unset <tenant/name>')
    .description('reset network settings to their defaults (PATCH with null)')
    .option('--mtu', "the node's automatic MTU")
    .option('--domain', 'the default domain, freight.internal')
    .option('--description', 'no description')
    .option('--label <key>', 'remove this label (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--dhcp-routes', 'no option 121 routes')
    .option('--dhcp-ntp', 'no NTP servers')
    .option('--dhcp-dns', 'no extra name servers')
    .option('--dhcp-search', 'no extra search domains')
    .option('--dns-upstream', "the node agent's --dns-upstream")
    .option('--rotate-hours', "ipsec: the controller's rotation period")
    .addHelpText('after', '\nExample:\n  freightctl network unset acme/web --mtu --label tier\n')
    .action(async (ref: string, o: Row) => {
      const dhcp = {
        ...(o.dhcpRoutes ? { routes: null } : {}),
        ...(o.dhcpNtp ? { ntp: null } : {}),
        ...(o.dhcpDns ? { dns: null } : {}),
        ...(o.dhcpSearch ? { search: null } : {}),
      };
      const patch = {
        ...(o.mtu ? { mtu: null } : {}),
        ...(o.domain ? { domain: null } : {}),
        ...(o.description ? { description: null } : {}),
        ...(o.label ? { labels: Object.fromEntries((o.label as string[]).map((k) => [k, null])) } : {}),
        ...(Object.keys(dhcp).length ? { dhcpOptions: dhcp } : {}),
        ...(o.dnsUpstream ? { dnsUpstreams: null } : {}),
        ...(o.rotateHours ? { params: { rotateHours: null } } : {}),
      };
      const { tenant, name } = splitRef(ref);
      await patchAndShow(io(), 'network', ref, `/v1/tenants/${enc(tenant)}/networks/${enc(name!)}`, patch, networkDetails, NetworkResponse);
    });
  n.command('rotate-keys <tenant/name>')
    .description("rotate an ipsec network's keys now (with overlap, in the background)")
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref);
      const r = (await io().req('POST', `/v1/tenants/${enc(tenant)}/networks/${enc(name!)}/rotate-keys`)) as Row;
      emit(io(), r, () => `network ${ref}: key rotation requested at ${r.requestedAt}\n`);
    });
  n.command('delete <tenant/name>')
    .description('delete a network with no containers attached (its infra instance goes with it)')
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref);
      await io().req('DELETE', `/v1/tenants/${enc(tenant)}/networks/${enc(name!)}`);
      emit(io(), { deleted: ref }, () => `network ${ref} deleted\n`);
    });
}

/** The DHCP options given on the command line (each list replaces the network's). */
function dhcpOptionsOf(o: Row): Row | undefined {
  const d = {
    ...(o.dhcpRoute ? { routes: o.dhcpRoute } : {}),
    ...(o.dhcpNtp ? { ntp: o.dhcpNtp } : {}),
    ...(o.dhcpDns ? { dns: o.dhcpDns } : {}),
    ...(o.dhcpSearch ? { search: o.dhcpSearch } : {}),
  };
  return Object.keys(d).length ? d : undefined;
}

/** PATCH with the fields given (none: a usage error, not an empty change) and print the object. */
export async function patchAndShow(
  io: Io,
  kind: string,
  ref: string,
  path: string,
  patch: Row,
  show: (r: Row) => string,
  schema: z.ZodType<Row>,
): Promise<void> {
  const body = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  if (Object.keys(body).length === 0)
    throw new CliError('usage', `${kind} ${ref}: nothing to change; see --help for the settings`, EXIT.usage);
  const r = typed(schema, await io.req('PATCH', path, body), `update ${kind} ${ref}`);
  emit(io, r, () => `${kind} ${ref} updated\n${show(r)}`);
}

export function endpointsCommand(program: Command, io: () => Io): void {
  program
    .command('endpoints <tenant[/network]>')
    .description('the IP/MAC → node mapping table of a tenant (or of one of its networks), infra instances included')
    .addHelpText('after', '\nExamples:\n  freightctl endpoints acme\n  freightctl endpoints acme/web -o json\n')
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref, true);
      const items = await listAll(io().req, `/v1/tenants/${enc(tenant)}/endpoints${name ? `?network=${enc(name)}` : ''}`, EndpointResponse);
      emitList(io(), items, ENDPOINT_COLUMNS);
    });
}

const ENDPOINT_COLUMNS: Array<Column<Row>> = [
  { header: 'NETWORK', get: (x) => x.network },
  { header: 'IP', get: (x) => x.ip },
  { header: 'MAC', get: (x) => x.mac },
  { header: 'CONTAINER', get: (x) => x.container },
  { header: 'KIND', get: (x) => x.kind },
  { header: 'NODE', get: (x) => x.node },
  { header: 'VTEP', get: (x) => x.nodeUnderlayIp },
];
