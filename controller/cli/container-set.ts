import type { Command } from 'commander';
import { CliError, enc, splitRef } from './client.js';
import { emit, type Io } from './output.js';
import { EXIT } from './exit.js';
import { decimal, int, keyValue } from './parse.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `8080:80`, `8080:80/udp` → the API's publish entry. */
export function parsePublish(v: string, hostIp?: string): Row {
  const m = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(v);
  if (!m) throw new CliError('usage', `--publish ${v}: expected HOSTPORT:PORT[/tcp|udp], e.g. 8080:80`, EXIT.usage);
  return { hostPort: Number(m[1]), port: Number(m[2]), proto: m[3] ?? 'tcp', ...(hostIp ? { hostIp } : {}) };
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
const ports = (r: Row) =>
  ((r.publish ?? []) as Row[]).map((p) => `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}->${p.port}/${p.proto}`).join(', ') || 'none';

/**
 * `freightctl container set TENANT/NAME [--publish 8080:80]… [--no-publish] [--sg G]…`: PATCH of
 * what is given only. `--publish` replaces the published ports with the list given (`--no-publish`:
 * none); `--sg` replaces the security groups (security-groups.ts adds its own `set` only when this
 * one is absent).
 */
export function containerSetCommand(c: Command, io: () => Io): void {
  c.command('set <tenant/name>')
    .description(
      'change a container in place (PATCH): limits and restart policy apply to the running container without a restart; ' +
        'published ports and security groups (each list given replaces the current one); labels, description',
    )
    .option('--restart <policy>', 'never | on-failure | always')
    .option('--memory <size>', 'memory limit, e.g. 256M or 2G')
    .option('--cpus <n>', 'CPU quota in cores, e.g. 0.5', decimal)
    .option('--pids <n>', 'at most this many tasks', int)
    .option('--description <text>', 'free text')
    .option('--label <key=value>', 'add or change a label (repeatable)', keyValue('KEY'))
    .option('--publish <host:port[/proto]>', 'publish a port at the node address, like docker -p 8080:80/tcp (repeatable)', collect)
    .option('--publish-ip <ip>', 'node address to publish on (default: its underlay address)')
    .option('--no-publish', 'remove every published port')
    .option('--sg <group>', 'a security group (repeatable; replaces the list); --sg default for the default', collect)
    .addHelpText(
      'after',
      '\nExamples:\n  freightctl container set acme/a --memory 1G --cpus 2 --label tier=front\n' +
        '  freightctl container set acme/www --publish 8080:80 --publish 8443:443\n',
    )
    .action(async (ref: string, o: Row) => {
      const { tenant, name } = splitRef(ref);
      const body = {
        ...(o.publish === false ? { publish: [] } : {}),
        ...(Array.isArray(o.publish) ? { publish: (o.publish as string[]).map((p) => parsePublish(p, o.publishIp)) } : {}),
        ...(Array.isArray(o.sg) ? { securityGroups: o.sg as string[] } : {}),
        ...settingsOf(o),
      };
      if (Object.keys(body).length === 0)
        throw new CliError('usage', `container ${ref}: nothing to change; see --help for the settings`, EXIT.usage);
      const r = (await io().req('PATCH', `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}`, body)) as Row;
      const said = [
        ...('publish' in body ? [`published ${ports(r)}`] : []),
        ...('securityGroups' in body ? [`security groups ${((r.securityGroups ?? []) as string[]).join(', ')}`] : []),
        ...SETTINGS.filter((k) => k in body).map((k) => `${k} ${k === 'labels' ? labelsOf(r.labels) || '-' : (r[k] ?? '-')}`),
      ];
      emit(io(), r, () => `container ${ref}: ${said.join('; ') || 'unchanged'}\n`);
    });
}

const SETTINGS = ['restart', 'memory', 'cpus', 'pids', 'description', 'labels'] as const;

/** The in-place settings given (memory: bytes or a size the API reads, such as 512M). */
function settingsOf(o: Row): Row {
  return {
    ...(o.restart !== undefined ? { restart: o.restart } : {}),
    ...(o.memory !== undefined ? { memory: /^\d+$/.test(o.memory) ? Number(o.memory) : o.memory } : {}),
    ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
    ...(o.pids !== undefined ? { pids: o.pids } : {}),
    ...(o.description !== undefined ? { description: o.description } : {}),
    ...(o.label !== undefined ? { labels: o.label } : {}),
  };
}

const labelsOf = (l: Record<string, string> | undefined) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
