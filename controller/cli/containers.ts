import type { Command } from 'commander';
import { CliError, enc, listAll, splitRef, typed } from './client.js';
import { ContainerResponse } from '../../protocol/responses.js';
import { details, table } from './format.js';
import { emit, emitList, type Column, type Io } from './output.js';
import { keyValue, positiveInt } from './parse.js';
import { listQuery, selectorOptions, type SelectorFlags } from './selectors.js';
import { patchAndShow } from './tenant-objects.js';
import { followEvents } from './events.js';
import { execCommand } from './exec.js';
import { collectSg, sgOption } from './security-groups.js';
import { containerSetCommand, parsePublish } from './container-set.js';

export { parsePublish };
import { attachCommands } from './attach.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const path = (ref: string) => {
  const { tenant, name } = splitRef(ref);
  return `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}`;
};
const ips = (c: Row) => (c.endpoints as Row[]).map((e) => `${e.network}=${e.ip}`).join(',');

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * `--network web,db --ip 10.0.0.50 --mac db=02:…` → the API's networks list: a bare `--ip`/`--mac`
 * is for the first network (docker's --ip with one --network), `NET=VALUE` for any of them.
 */
export function networkAttachments(networks: string[], ips: string[], macs: string[]): Array<string | Row> {
  const chosen = new Map<string, Row>(networks.map((n) => [n, {}]));
  const put = (flag: 'ip' | 'mac', v: string) => {
    const eq = v.indexOf('=');
    const net = eq >= 0 ? v.slice(0, eq) : networks[0];
    if (!chosen.has(net)) throw new CliError('usage', `--${flag} ${v}: ${net} is not one of --network ${networks.join(',')}`, 2);
    if (chosen.get(net)![flag] !== undefined) throw new CliError('usage', `--${flag}: given twice for network ${net}`, 2);
    chosen.get(net)![flag] = eq >= 0 ? v.slice(eq + 1) : v;
  };
  ips.forEach((v) => put('ip', v));
  macs.forEach((v) => put('mac', v));
  return networks.map((n) => (Object.keys(chosen.get(n)!).length ? { network: n, ...chosen.get(n) } : n));
}

export function containerCommands(program: Command, io: () => Io): void {
  const c = program
    .command('container')
    .description('containers: run, list, show, change, start/stop, logs, exec, delete')
    .addHelpText('after', CONTAINER_HELP);
  c.command('run <tenant/name> [command...]')
    .description("run a container on one or more networks; its command goes after -- (default: the image's)")
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
    .option('--ip <[net=]address>', 'a chosen address, like docker --ip (bare: the first network; repeatable)', collect, [])
    .option('--mac <[net=]mac>', 'a chosen MAC, like docker --mac-address (bare: the first network; repeatable)', collect, [])
    .option('--description <text>', 'free text')
    .option('--label <key=value>', 'a label (repeatable)', keyValue('KEY'))
    .addHelpText(
      'after',
      `
The container's command and its arguments go after --, so that their options are not freightctl's.

Examples:
  freightctl container run acme/a --network web --image busybox -- sh -c 'echo hi; exec sleep 3600'
  freightctl container run acme/db --network web,back --image postgres:16 --memory 2G --cpus 1.5 --restart always
  freightctl container run acme/www --network web --image busybox --publish 8080:80 --label tier=front -- httpd -f -p 80
`,
    )
    .action(async (ref: string, command: string[], o: Row) => {
      const { tenant, name } = splitRef(ref);
      const body = {
        name,
        image: o.image,
        networks: networkAttachments(String(o.network).split(',').filter(Boolean), o.ip as string[], o.mac as string[]),
        command,
        ...(o.node ? { node: o.node } : {}),
        ...(o.restart ? { restart: o.restart } : {}),
        ...(o.boot ? { boot: true } : {}),
        ...(o.memory !== undefined ? { memory: /^\d+$/.test(o.memory) ? Number(o.memory) : o.memory } : {}),
        ...(o.cpus !== undefined ? { cpus: Number(o.cpus) } : {}),
        ...(o.pids !== undefined ? { pids: Number(o.pids) } : {}),
        ...((o.publish as string[]).length > 0 ? { publish: (o.publish as string[]).map((p) => parsePublish(p, o.publishIp)) } : {}),
        ...sgOption(o.sg as string[]),
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.label ? { labels: o.label } : {}),
      };
      const r = typed(ContainerResponse, await io().req('POST', `/v1/tenants/${enc(tenant)}/containers`, body), 'run container');
      emit(io(), r, () => `container ${tenant}/${r.name} created on ${r.node ?? '(pending)'}: ${ips(r)}\n`);
    });
  const HEAD = CONTAINER_COLUMNS.filter((x) => !x.wide).map((x) => x.header);
  const cells = (x: Row) => CONTAINER_COLUMNS.filter((x) => !x.wide).map((col) => col.get(x));
  selectorOptions(
    c
      .command('list [tenant]')
      .description('list containers: of one tenant, or of every tenant the token sees')
      .addHelpText('after', '\nFilters (--filter): image, node, network, state (desired), observed\n'),
  )
    .option('-w, --watch', 'after the list, print a line for every change of a container (GET /v1/events) until interrupted')
    .option('--limit <n>', 'with --watch: stop after this many changes', positiveInt)
    .action(async (tenant: string | undefined, o: { watch?: boolean; limit?: number } & SelectorFlags) => {
      const list = async () => {
        const tenants = tenant ? [tenant] : (await listAll<Row>(io().req, '/v1/tenants')).map((t) => t.name as string);
        const items: ContainerResponse[] = [];
        for (const t of tenants)
          items.push(...(await listAll(io().req, `/v1/tenants/${enc(t)}/containers${listQuery(o)}`, ContainerResponse)));
        emitList(io(), items, CONTAINER_COLUMNS);
      };
      if (!o.watch) return list();
      // the stream first, then the list: a change made while listing is printed after it, none is missed
      await followEvents(io(), {
        json: io().json,
        limit: o.limit,
        onReady: list,
        filter: (e) => e.kind === 'container' && e.object?.kind !== 'infra' && (!tenant || e.tenant === tenant),
        format: (e) =>
          e.object
            ? `${e.op.toUpperCase()}  ${table(HEAD, [cells(e.object)]).split('\n')[1]}\n`
            : `${e.op.toUpperCase()}  ${e.tenant ?? '-'}  ${e.id}\n`,
      });
    });
  c.command('show <tenant/name>')
    .description("show a container: state, node, addresses, limits (TENANT/infra-NET: the network's infra instance)")
    .action(async (ref: string) => {
      const r = typed(ContainerResponse, await io().req('GET', path(ref)), `container ${ref}`);
      emit(io(), r, () => containerDetails(r));
    });
  c.command('unset <tenant/name>')
    .description('reset container settings to their defaults (PATCH with null)')
    .option('--restart', 'never')
    .option('--memory', 'the default, 512M')
    .option('--cpus', 'no CPU quota')
    .option('--pids', 'the default, 1024')
    .option('--description', 'no description')
    .option('--label <key>', 'remove this label (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (ref: string, o: Row) => {
      const patch = {
        ...Object.fromEntries(['restart', 'memory', 'cpus', 'pids', 'description'].filter((k) => o[k]).map((k) => [k, null])),
        ...(o.label ? { labels: Object.fromEntries((o.label as string[]).map((k) => [k, null])) } : {}),
      };
      await patchAndShow(io(), 'container', ref, path(ref), patch, containerDetails, ContainerResponse);
    });
  for (const action of ['start', 'stop'] as const) {
    c.command(`${action} <tenant/name>`)
      .description(action === 'start' ? 'start a stopped container (desired state running)' : 'stop a container (desired state stopped)')
      .action(async (ref: string) => {
        const r = (await io().req('POST', `${path(ref)}/actions`, { action })) as Row;
        emit(io(), r, () => `container ${ref}: desired state ${r.desiredState}\n`);
      });
  }
  c.command('delete <tenant/name>')
    .description('delete a container: its node stops it and removes its interfaces; its addresses are freed')
    .action(async (ref: string) => {
      await io().req('DELETE', path(ref));
      emit(io(), { deleted: ref }, () => `container ${ref} deleted\n`);
    });
  c.command('logs <tenant/name>')
    .description("the container's journal, read on its node (TENANT/infra-NET: the infra instance's)")
    .option('--tail <n>', 'last N lines (at most 100000)', positiveInt, 100)
    .action(async (ref: string, o: { tail: number }) => {
      const r = (await io().req('GET', `${path(ref)}/logs?tail=${o.tail}`)) as Row;
      emit(io(), r, () => String(r.text ?? ''));
    });
  execCommand(c, io);
  containerSetCommand(c, io);
  attachCommands(c, io);
}

const labelsOf = (l: Record<string, string> | undefined) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

export const CONTAINER_COLUMNS: Array<Column<Row>> = [
  { header: 'TENANT', get: (x) => x.tenant },
  { header: 'NAME', get: (x) => x.name },
  { header: 'IMAGE', get: (x) => x.image },
  { header: 'NODE', get: (x) => x.node },
  { header: 'DESIRED', get: (x) => x.desiredState },
  { header: 'OBSERVED', get: (x) => x.observedState },
  { header: 'RESTARTS', get: (x) => x.restarts },
  { header: 'ADDRESSES', get: ips },
  { header: 'RESTART', get: (x) => x.restart, wide: true },
  { header: 'MEMORY', get: (x) => x.memory, wide: true },
  { header: 'CPUS', get: (x) => x.cpus, wide: true },
  { header: 'LABELS', get: (x) => labelsOf(x.labels), wide: true },
  { header: 'REASON', get: (x) => x.reason, wide: true },
];

export const containerDetails = ({ counters, countersError, ...r }: Row) =>
  details({ ...r, labels: labelsOf(r.labels) || undefined, ...(counters === undefined ? {} : infraCounterLines(counters, countersError)) });

/** An infra instance's counters as two lines (`-o json` has the fields). */
function infraCounterLines(c: Row | null, why: unknown): Record<string, string> {
  if (!c) return { counters: `- (${String(why ?? 'unavailable')})` };
  return {
    dhcp: `leases ${c.dhcpLeases}  answers ${c.dhcpAnswers}  packets ${c.dhcpPackets}  errors ${c.dhcpErrors}`,
    dns: `queries ${c.dnsQueries}  errors ${c.dnsErrors}  forwarded ${c.dnsForwarded}`,
  };
}

const CONTAINER_HELP = `
Examples:
  freightctl container run acme/a --network web --image busybox -- sh -c 'echo hi; exec sleep 3600'
  freightctl container list acme -l tier=front --filter network=web -o wide
  freightctl container set acme/a --memory 1G --label tier=front
  freightctl container exec acme/a -- cat /etc/hostname
  freightctl container logs acme/infra-web --tail 20
`;
