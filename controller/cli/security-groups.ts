import type { Command } from 'commander';
import { CliError, enc, listAll, splitRef } from './client.js';
import { details, table } from './format.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const collect = (v: string, prev: string[]) => [...prev, v];
const groupPath = (ref: string) => {
  const { tenant, name } = splitRef(ref);
  return `/v1/tenants/${enc(tenant)}/security-groups/${enc(name!)}`;
};

/** `80` → one port; `80-90` → a range; `80,443,8000-8100` → a set of them (one rule). */
export function parsePorts(v: string): { portMin: number; portMax: number } | { ports: Array<number | string> } {
  const entries = v.split(',');
  const bad = entries.find((e) => !/^\d{1,5}(?:-\d{1,5})?$/.test(e));
  if (bad !== undefined)
    throw new CliError('usage', `--port ${v}: expected PORT, FIRST-LAST or a list of them, e.g. 80, 8000-8100 or 80,443`, 2);
  if (entries.length > 1) return { ports: entries.map((e) => (e.includes('-') ? e : Number(e))) };
  const [a, b = a] = entries[0].split('-');
  return { portMin: Number(a), portMax: Number(b) };
}

const ports = (r: Row) =>
  Array.isArray(r.ports) && r.ports.length > 0
    ? (r.ports as Array<number | string>).join(',')
    : r.portMin === null
      ? 'any'
      : r.portMin === r.portMax
        ? String(r.portMin)
        : `${r.portMin}-${r.portMax}`;
const remote = (r: Row) => (r.remoteGroup ? `group ${r.remoteGroup}` : (r.remoteCidr ?? '0.0.0.0/0'));
const stat = (s: Row | undefined) => (s ? `${s.packets}/${s.bytes}` : '-');

function ruleTable(rules: Row[], stats?: Record<string, Row>): string {
  const head = ['ID', 'DIRECTION', 'PROTO', 'PORTS', 'REMOTE', ...(stats ? ['PACKETS/BYTES'] : [])];
  return table(
    head,
    rules.map((r) => [r.id, r.direction, r.proto, ports(r), remote(r), ...(stats ? [stat(stats[r.id])] : [])]),
  );
}

/**
 * `freightctl sg create|list|show|delete`, `sg rule add|delete` (like `openstack security group …`),
 * and `container set TENANT/NAME --sg G` (PATCH securityGroups).
 */
export function securityGroupCommands(program: Command, io: () => Io): void {
  const sg = program.command('sg').description('security groups: stateful per-container firewall rules');
  sg.command('create <tenant/name>')
    .description('create a security group (no rules: members accept only replies, DHCP and DNS)')
    .option('--description <text>', 'what the group is for')
    .action(async (ref: string, o: Row) => {
      const { tenant, name } = splitRef(ref);
      const body = { name, ...(o.description ? { description: o.description } : {}) };
      const x = (await io().req('POST', `/v1/tenants/${enc(tenant)}/security-groups`, body)) as Row;
      emit(io(), x, () => `security group ${tenant}/${x.name} created\n`);
    });
  sg.command('list <tenant>')
    .description("list a tenant's security groups")
    .action(async (tenant: string) => {
      const items = await listAll<Row>(io().req, `/v1/tenants/${enc(tenant)}/security-groups`);
      emit(io(), items, () =>
        table(
          ['TENANT', 'NAME', 'RULES', 'MEMBERS'],
          items.map((x) => [x.tenant, x.name, (x.rules as Row[]).length, (x.members as string[]).join(',') || '-']),
        ),
      );
    });
  sg.command('show <tenant/name>')
    .description('show a security group and its rules')
    .option('--stats', "per-rule packet and byte counters, summed over the nodes' agents")
    .action(async (ref: string, o: Row) => {
      const x = (await io().req('GET', groupPath(ref))) as Row;
      const stats = o.stats ? ((await io().req('GET', `${groupPath(ref)}/stats`)) as Row) : undefined;
      const data = stats ? { ...x, stats } : x;
      emit(io(), data, () => {
        const { rules, members, ...rest } = x;
        const lacking =
          stats && (stats.missing as string[]).length > 0 ? `counters lack nodes: ${(stats.missing as string[]).join(', ')}\n` : '';
        const head = details({ ...rest, members: (members as string[]).join(', ') || '-' });
        return `${head}\n${ruleTable(rules as Row[], stats?.rules)}${lacking}`;
      });
    });
  sg.command('delete <tenant/name>')
    .description('delete a security group no container or rule uses')
    .action(async (ref: string) => {
      await io().req('DELETE', groupPath(ref));
      emit(io(), { deleted: ref }, () => `security group ${ref} deleted\n`);
    });
  const rule = sg.command('rule').description("a security group's rules");
  rule
    .command('add <tenant/group>')
    .description('add a rule to a security group')
    .option('--ingress', 'traffic to the members (the default)')
    .option('--egress', 'traffic from the members')
    .option('--proto <proto>', 'tcp | udp | icmp | any', 'any')
    .option('--port <ports>', 'destination port, range or comma-separated set of them, e.g. 80,443,8000-8100 (tcp/udp)')
    .option('--remote-cidr <cidr>', 'peer addresses (default: any)')
    .option('--remote-group <[tenant/]group>', 'peers: the members of this group of the same tenant')
    .action(async (ref: string, o: Row) => {
      if (o.ingress && o.egress) throw new CliError('usage', '--ingress and --egress exclude each other (one rule per direction)', 2);
      const body = {
        direction: o.egress ? 'egress' : 'ingress',
        proto: o.proto,
        ...(o.port !== undefined ? parsePorts(String(o.port)) : {}),
        ...(o.remoteCidr ? { remoteCidr: o.remoteCidr } : {}),
        ...(o.remoteGroup ? { remoteGroup: o.remoteGroup } : {}),
      };
      const r = (await io().req('POST', `${groupPath(ref)}/rules`, body)) as Row;
      emit(io(), r, () => `rule ${r.id} added to ${ref}: ${r.direction} ${r.proto} ${ports(r)} from/to ${remote(r)}\n`);
    });
  rule
    .command('delete <tenant/group> <rule-id>')
    .description('delete a rule by its id')
    .action(async (ref: string, id: string) => {
      await io().req('DELETE', `${groupPath(ref)}/rules/${enc(id)}`);
      emit(io(), { deleted: id }, () => `rule ${id} deleted from ${ref}\n`);
    });
  const container = program.commands.find((c) => c.name() === 'container');
  if (container && !container.commands.some((c) => c.name() === 'set')) {
    container
      .command('set <tenant/name>')
      .description("change a running container's security groups (PATCH)")
      .option('--sg <group>', 'a security group (repeatable; replaces the list); --sg default for the default', collect, [])
      .action(async (ref: string, o: Row) => {
        const { tenant, name } = splitRef(ref);
        const body = (o.sg as string[]).length > 0 ? { securityGroups: o.sg as string[] } : {};
        const x = (await io().req('PATCH', `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}`, body)) as Row;
        emit(io(), x, () => `container ${ref}: security groups ${(x.securityGroups as string[]).join(', ')}\n`);
      });
  }
}

/** `container run --sg G` (repeatable) → the create body's securityGroups. */
export const sgOption = (v: string[] | undefined) => (v && v.length > 0 ? { securityGroups: v } : {});
export { collect as collectSg };
