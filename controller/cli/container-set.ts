import type { Command } from 'commander';
import { CliError, enc, splitRef } from './client.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `8080:80`, `8080:80/udp` → the API's publish entry. */
export function parsePublish(v: string, hostIp?: string): Row {
  const m = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(v);
  if (!m) throw new CliError('usage', `--publish ${v}: expected HOSTPORT:PORT[/tcp|udp], e.g. 8080:80`, 2);
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
    .description('change a container in place: its published ports, its security groups (each list given replaces the current one)')
    .option('--publish <host:port[/proto]>', 'publish a port at the node address, like docker -p 8080:80/tcp (repeatable)', collect)
    .option('--publish-ip <ip>', 'node address to publish on (default: its underlay address)')
    .option('--no-publish', 'remove every published port')
    .option('--sg <group>', 'a security group (repeatable; replaces the list); --sg default for the default', collect)
    .action(async (ref: string, o: Row) => {
      const { tenant, name } = splitRef(ref);
      const body = {
        ...(o.publish === false ? { publish: [] } : {}),
        ...(Array.isArray(o.publish) ? { publish: (o.publish as string[]).map((p) => parsePublish(p, o.publishIp)) } : {}),
        ...(Array.isArray(o.sg) ? { securityGroups: o.sg as string[] } : {}),
      };
      const r = (await io().req('PATCH', `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}`, body)) as Row;
      const said = [
        ...('publish' in body ? [`published ${ports(r)}`] : []),
        ...('securityGroups' in body ? [`security groups ${((r.securityGroups ?? []) as string[]).join(', ')}`] : []),
      ];
      emit(io(), r, () => `container ${ref}: ${said.join('; ') || 'unchanged'}\n`);
    });
}
