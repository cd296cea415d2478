import type { Command } from 'commander';
import { CliError, enc, listAll, splitRef } from './client.js';
import { details, table } from './format.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Tenants to list over: the one given, else every tenant the token sees. */
async function tenantsOf(io: Io, tenant?: string): Promise<string[]> {
  if (tenant) return [tenant];
  return (await listAll<Row>(io.req, '/v1/tenants')).map((t) => t.name as string);
}

const int = (v: string) => {
  if (!/^\d+$/.test(v)) throw new CliError('usage', `expected a number, got ${v}`, 2);
  return Number(v);
};

/** `A-B` → { start, end } (the API checks the addresses). */
function pool(v: string, prev: Array<{ start: string; end: string }>): Array<{ start: string; end: string }> {
  const m = /^([^-\s]+)-([^-\s]+)$/.exec(v);
  if (!m) throw new CliError('usage', `--pool: expected FIRST-LAST such as 192.168.10.100-192.168.10.199, got ${v}`, 2);
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

export function networkCommands(program: Command, io: () => Io): void {
  const n = program.command('network').description('tenant networks');
  n.command('create <tenant/name>')
    .requiredOption('--cidr <cidr>', 'IPv4 network, e.g. 10.0.0.0/24')
    .option('--type <type>', 'vxlan | geneve | ipsec | physical (admin tokens only)', 'vxlan')
    .option('--mtu <n>', 'MTU inside the network', int)
    .option('--domain <domain>', 'DNS domain')
    .option('--gateway <ip>', 'gateway address')
    .option('--vni <n>', 'VNI, admin tokens only (default: a random free one)', int)
    .option('--port <n>', 'vxlan/geneve: UDP port of the tunnel (default 4789 / 6081)', int)
    .option('--rotate-hours <h>', "ipsec: key rotation period (default: the controller's --ipsec-rotate-hours)", Number)
    .option('--physical-network <name>', 'physical: the physical network nodes map (freight-agent --physical-network NAME=IFACE)')
    .option('--vlan <id>', 'physical: 802.1Q VLAN ID 1-4094 (default: flat, untagged)', int)
    .option('--pool <first-last>', 'allocation pool, e.g. 192.168.10.100-192.168.10.199 (repeatable; required for physical)', pool, [])
    .option('--no-dhcp', 'nodes configure container addresses, routes and resolvers; the infra container serves DNS only')
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
      };
      const r = (await io().req('POST', `/v1/tenants/${enc(tenant)}/networks`, body)) as Row;
      const what = r.type === 'physical' ? describePhysical(r.params as Row) : `vni ${r.vni}`;
      emit(io(), r, () => `network ${tenant}/${r.name} created: ${what}, ${r.cidr}, infra ${r.infra?.ip}\n`);
    });
  n.command('list [tenant]').action(async (tenant?: string) => {
    const items: Row[] = [];
    for (const t of await tenantsOf(io(), tenant)) items.push(...(await listAll<Row>(io().req, `/v1/tenants/${enc(t)}/networks`)));
    emit(io(), items, () =>
      table(
        ['TENANT', 'NAME', 'TYPE', 'VNI', 'CIDR', 'GATEWAY', 'MTU', 'INFRA', 'INFRA NODE'],
        // no MTU set: each node uses its underlay MTU minus the encapsulation overhead (physical: its interface's)
        items.map((x) => [
          x.tenant,
          x.name,
          x.type === 'physical' ? `physical ${describePhysical(x.params as Row)}` : x.type,
          x.vni,
          x.cidr,
          x.gateway,
          x.mtu ?? 'auto',
          x.infra?.ip,
          x.infra?.node,
        ]),
      ),
    );
  });
  n.command('show <tenant/name>').action(async (ref: string) => {
    const { tenant, name } = splitRef(ref);
    const r = (await io().req('GET', `/v1/tenants/${enc(tenant)}/networks/${enc(name!)}`)) as Row;
    emit(io(), r, () => details(r));
  });
  n.command('rotate-keys <tenant/name>')
    .description("rotate an ipsec network's keys now (with overlap, in the background)")
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref);
      const r = (await io().req('POST', `/v1/tenants/${enc(tenant)}/networks/${enc(name!)}/rotate-keys`)) as Row;
      emit(io(), r, () => `network ${ref}: key rotation requested at ${r.requestedAt}\n`);
    });
  n.command('delete <tenant/name>').action(async (ref: string) => {
    const { tenant, name } = splitRef(ref);
    await io().req('DELETE', `/v1/tenants/${enc(tenant)}/networks/${enc(name!)}`);
    emit(io(), { deleted: ref }, () => `network ${ref} deleted\n`);
  });
}

export function endpointsCommand(program: Command, io: () => Io): void {
  program
    .command('endpoints <tenant[/network]>')
    .description('the IP/MAC → node mapping table')
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref, true);
      const items = await listAll<Row>(io().req, `/v1/tenants/${enc(tenant)}/endpoints${name ? `?network=${enc(name)}` : ''}`);
      emit(io(), items, () =>
        table(
          ['NETWORK', 'IP', 'MAC', 'CONTAINER', 'KIND', 'NODE', 'VTEP'],
          items.map((x) => [x.network, x.ip, x.mac, x.container, x.kind, x.node, x.nodeUnderlayIp]),
        ),
      );
    });
}
