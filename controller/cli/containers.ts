import type { Command } from 'commander';
import { enc, listAll, splitRef } from './client.js';
import { details, table } from './format.js';
import { emit, type Io } from './output.js';
import { followEvents } from './events.js';
import { execCommand } from './exec.js';
import { collectSg, sgOption } from './security-groups.js';
import { containerSetCommand, parsePublish } from './container-set.js';

export { parsePublish };

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const path = (ref: string) => {
  const { tenant, name } = splitRef(ref);
  return `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}`;
};
const ips = (c: Row) => (c.endpoints as Row[]).map((e) => `${e.network}=${e.ip}`).join(',');

const collect = (v: string, prev: string[]) => [...prev, v];

export function containerCommands(program: Command, io: () => Io): void {
  const c = program.command('container').description('containers');
  c.command('run <tenant/name> [command...]')
    .requiredOption('--network <nets>', 'network name(s), comma separated')
    .requiredOption('--image <image>', 'image name')
    .option('--node <node>', 'place on this node (admin tokens only)')
    .option('--restart <policy>', 'never | on-failure | always')
    .option('--boot', 'boot a whole OS image (systemd-nspawn -b)')
    .option('--memory <size>', 'memory limit, e.g. 256M or 2G (default 512M)')
    .option('--cpus <n>', 'CPU quota in cores, e.g. 0.5 (default: no quota)')
    .option('--pids <n>', 'at most this many tasks (default 1024)')
    .option('--publish <host:port[/proto]>', 'publish a port at the node address, like docker -p 8080:80/tcp (repeatable)', collect, [])
    .option('--publish-ip <ip>', 'node address to publish on (default: its underlay address)')
    .option('--sg <group>', "a security group of the tenant (repeatable; default: the tenant's default)", collectSg, [])
    .action(async (ref: string, command: string[], o: Row) => {
      const { tenant, name } = splitRef(ref);
      const body = {
        name,
        image: o.image,
        networks: String(o.network).split(',').filter(Boolean),
        command,
        ...(o.node ? { node: o.node } : {}),
        ...(o.restart ? { restart: o.restart } : {}),
        ...(o.boot ? { boot: true } : {}),
        ...(o.memory !== undefined ? { memory: /^\d+$/.test(o.memory) ? Number(o.memory) : o.memory } : {}),
        ...(o.cpus !== undefined ? { cpus: Number(o.cpus) } : {}),
        ...(o.pids !== undefined ? { pids: Number(o.pids) } : {}),
        ...((o.publish as string[]).length > 0 ? { publish: (o.publish as string[]).map((p) => parsePublish(p, o.publishIp)) } : {}),
        ...sgOption(o.sg as string[]),
      };
      const r = (await io().req('POST', `/v1/tenants/${enc(tenant)}/containers`, body)) as Row;
      emit(io(), r, () => `container ${tenant}/${r.name} created on ${r.node ?? '(pending)'}: ${ips(r)}\n`);
    });
  const HEAD = ['TENANT', 'NAME', 'IMAGE', 'NODE', 'DESIRED', 'OBSERVED', 'RESTARTS', 'ADDRESSES'];
  const cells = (x: Row) => [x.tenant, x.name, x.image, x.node, x.desiredState, x.observedState, x.restarts, ips(x)];
  c.command('list [tenant]')
    .option('-w, --watch', 'after the list, print a line for every change of a container (GET /v1/events) until interrupted')
    .option('--limit <n>', 'with --watch: stop after this many changes')
    .action(async (tenant: string | undefined, o: { watch?: boolean; limit?: string }) => {
      const list = async () => {
        const tenants = tenant ? [tenant] : (await listAll<Row>(io().req, '/v1/tenants')).map((t) => t.name as string);
        const items: Row[] = [];
        for (const t of tenants) items.push(...(await listAll<Row>(io().req, `/v1/tenants/${enc(t)}/containers`)));
        emit(io(), items, () => table(HEAD, items.map(cells)));
      };
      if (!o.watch) return list();
      // the stream first, then the list: a change made while listing is printed after it, none is missed
      await followEvents(io(), {
        json: io().json,
        limit: o.limit === undefined ? undefined : Number(o.limit),
        onReady: list,
        filter: (e) => e.kind === 'container' && e.object?.kind !== 'infra' && (!tenant || e.tenant === tenant),
        format: (e) =>
          e.object
            ? `${e.op.toUpperCase()}  ${table(HEAD, [cells(e.object)]).split('\n')[1]}\n`
            : `${e.op.toUpperCase()}  ${e.tenant ?? '-'}  ${e.id}\n`,
      });
    });
  c.command('show <tenant/name>').action(async (ref: string) => {
    const r = (await io().req('GET', path(ref))) as Row;
    emit(io(), r, () => details(r));
  });
  for (const action of ['start', 'stop'] as const) {
    c.command(`${action} <tenant/name>`).action(async (ref: string) => {
      const r = (await io().req('POST', `${path(ref)}/actions`, { action })) as Row;
      emit(io(), r, () => `container ${ref}: desired state ${r.desiredState}\n`);
    });
  }
  c.command('delete <tenant/name>').action(async (ref: string) => {
    await io().req('DELETE', path(ref));
    emit(io(), { deleted: ref }, () => `container ${ref} deleted\n`);
  });
  c.command('logs <tenant/name>')
    .option('--tail <n>', 'last N lines', '100')
    .action(async (ref: string, o: { tail: string }) => {
      const r = (await io().req('GET', `${path(ref)}/logs?tail=${enc(o.tail)}`)) as Row;
      emit(io(), r, () => String(r.text ?? ''));
    });
  execCommand(c, io);
  containerSetCommand(c, io);
}
