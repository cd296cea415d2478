import type { Command } from 'commander';
import { CliError, enc, listAll, typed } from './client.js';
import { NodeResponse, StatusResponse, TenantResponse, TokenResponse } from '../../protocol/responses.js';
import { encodeJoin } from '../../protocol/join.js';
import { age, details, table } from './format.js';
import { emit, emitList, type Io } from './output.js';
import { EXIT } from './exit.js';
import { keyValue, positiveInt } from './parse.js';
import { listQuery, selectorOptions, type SelectorFlags } from './selectors.js';
import { patchAndShow } from './tenant-objects.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function tenantCommands(program: Command, io: () => Io): void {
  const t = program
    .command('tenant')
    .description('tenants: isolation domains of networks, containers and tokens (admin)')
    .addHelpText('after', '\nExamples:\n  freightctl tenant create acme --label team=web\n  freightctl tenant list -l team=web\n');
  t.command('create <name>')
    .description('create a tenant (admin)')
    .option('--description <text>', 'free text')
    .option('--label <key=value>', 'a label (repeatable)', keyValue('KEY'))
    .action(async (name: string, o: Row) => {
      const r = (await io().req('POST', '/v1/tenants', { name, description: o.description, labels: o.label })) as Row;
      emit(io(), r, () => `tenant ${r.name} created (${r.id})\n`);
    });
  selectorOptions(t.command('list').description('list the tenants the token sees')).action(async (o: SelectorFlags) => {
    const items = await listAll(io().req, `/v1/tenants${listQuery(o)}`, TenantResponse);
    emitList(io(), items, [
      { header: 'NAME', get: (x) => x.name },
      { header: 'ID', get: (x) => x.id },
      { header: 'CREATED', get: (x) => x.createdAt },
      { header: 'LABELS', get: (x) => labelsOf(x.labels), wide: true },
      { header: 'DESCRIPTION', get: (x) => x.description, wide: true },
    ]);
  });
  t.command('show <name>')
    .description('show a tenant')
    .action(async (name: string) => {
      const r = typed(TenantResponse, await io().req('GET', `/v1/tenants/${enc(name)}`), `tenant ${name}`);
      emit(io(), r, () => details({ ...r, labels: labelsOf(r.labels) || undefined }));
    });
  t.command('set <name>')
    .description("change a tenant's description or labels")
    .option('--description <text>', 'free text')
    .option('--label <key=value>', 'add or change a label (repeatable)', keyValue('KEY'))
    .action(async (name: string, o: Row) => {
      const show = (r: Row) => details({ ...r, labels: labelsOf(r.labels) || undefined });
      await patchAndShow(
        io(),
        'tenant',
        name,
        `/v1/tenants/${enc(name)}`,
        { description: o.description, labels: o.label },
        show,
        TenantResponse,
      );
    });
  t.command('unset <name>')
    .description("remove a tenant's description or labels")
    .option('--description', 'no description')
    .option('--label <key>', 'remove this label (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (name: string, o: Row) => {
      const show = (r: Row) => details({ ...r, labels: labelsOf(r.labels) || undefined });
      const patch = {
        ...(o.description ? { description: null } : {}),
        ...(o.label ? { labels: Object.fromEntries((o.label as string[]).map((k) => [k, null])) } : {}),
      };
      await patchAndShow(io(), 'tenant', name, `/v1/tenants/${enc(name)}`, patch, show, TenantResponse);
    });
  t.command('delete <name>')
    .description('delete a tenant with nothing left in it (admin)')
    .action(async (name: string) => {
      await io().req('DELETE', `/v1/tenants/${enc(name)}`);
      emit(io(), { deleted: name }, () => `tenant ${name} deleted\n`);
    });
}

export function tokenCommands(program: Command, io: () => Io): void {
  const t = program
    .command('token')
    .description('API tokens: admin, per tenant, per node (admin)')
    .addHelpText(
      'after',
      '\nExamples:\n  freightctl token create --tenant acme\n  freightctl token create --node h1 --controller-url https://192.0.2.11:7400\n',
    );
  t.command('create')
    .description('create a token; it is printed once (--node: a join string for freight-agent --join)')
    .option('--admin', 'an admin token')
    .option('--tenant <name>', 'a token for one tenant')
    .option('--node <name>', 'a token for one node agent: prints its join string (controller URL, token, CA pin)')
    .option('--controller-url <url>', 'the URL agents reach the controller at, for the join string (default: --url)')
    .action(async (o: { admin?: boolean; tenant?: string; node?: string; controllerUrl?: string }) => {
      const kinds = [o.admin && 'admin', o.tenant && 'tenant', o.node && 'node'].filter(Boolean);
      if (kinds.length !== 1)
        throw new CliError('usage', 'token create: give exactly one of --admin, --tenant NAME, --node NAME', EXIT.usage);
      const body = { kind: kinds[0], ...(o.tenant ? { tenant: o.tenant } : {}), ...(o.node ? { node: o.node } : {}) };
      const x = io();
      const r = (await x.req('POST', '/v1/tokens', body)) as Row;
      if (!o.node) return emit(x, r, () => `${r.token}\n`);
      // the pin is the CA this very run verified the controller with
      const join = encodeJoin({
        url: (o.controllerUrl ?? x.url ?? '').replace(/\/+$/, ''),
        token: r.token,
        ...(x.caPin ? { ca: x.caPin } : {}),
      });
      emit(x, { ...r, join }, () => `${join}\n`);
    });
  t.command('list')
    .description('list tokens (never their secrets)')
    .action(async () => {
      const items = await listAll(io().req, '/v1/tokens', TokenResponse);
      emitList(io(), items, [
        { header: 'ID', get: (x) => x.id },
        { header: 'KIND', get: (x) => x.kind },
        { header: 'TENANT', get: (x) => x.tenant },
        { header: 'NODE', get: (x) => x.node },
        { header: 'CREATED', get: (x) => x.createdAt },
        { header: 'REVOKED', get: (x) => x.revokedAt },
      ]);
    });
  t.command('revoke <id>')
    .description('revoke a token: a node token loses its agent stream within a second')
    .action(async (id: string) => {
      const r = await io().req('DELETE', `/v1/tokens/${enc(id)}`);
      emit(io(), r, () => `token ${id} revoked\n`);
    });
}

export function nodeCommands(program: Command, io: () => Io): void {
  const n = program.command('node').description('nodes running freight-agent (admin)');
  n.command('list')
    .description('list nodes: readiness, revisions, containers')
    .action(async () => {
      const items = await listAll(io().req, '/v1/nodes', NodeResponse);
      const now = io().now();
      emitList(io(), items, [
        { header: 'NAME', get: (x) => x.name },
        { header: 'UNDERLAY', get: (x) => x.underlayIp },
        { header: 'READY', get: (x) => x.ready },
        { header: 'LAST SEEN', get: (x) => age(x.lastSeen, now) },
        { header: 'CONTAINERS', get: (x) => x.containers },
        { header: 'DESIRED', get: (x) => x.desiredRevision },
        { header: 'APPLIED', get: (x) => x.appliedRevision },
        { header: 'LAG', get: (x) => x.lag },
      ]);
    });
  n.command('show <name>')
    .description('show a node: kernel capabilities (and why one is missing), physical network mappings')
    .action(async (name: string) => {
      const r = typed(NodeResponse, await io().req('GET', `/v1/nodes/${enc(name)}`), `node ${name}`);
      emit(io(), r, () => nodeDetails(r));
    });
  n.command('delete <name>')
    .description('delete a node: its tokens are revoked, its stream closed')
    .action(async (name: string) => {
      await io().req('DELETE', `/v1/nodes/${enc(name)}`);
      emit(io(), { deleted: name }, () => `node ${name} deleted\n`);
    });
}

export function statusCommand(program: Command, io: () => Io): void {
  program
    .command('status')
    .description('per node: ready, desired vs applied revision')
    .action(async () => {
      const r = typed(StatusResponse, await io().req('GET', '/v1/status'), 'status');
      const now = io().now();
      emit(
        io(),
        r,
        () =>
          `revision ${r.revision}\n` +
          table(
            ['NODE', 'READY', 'LAST SEEN', 'DESIRED', 'APPLIED', 'LAG'],
            r.nodes.map((x) => [x.name, x.ready, age(x.lastSeen, now), x.desiredRevision, x.appliedRevision, x.lag]),
          ),
      );
    });
}

/** Node fields, then one line per capability: `esp: unsupported (reason)` says why a network type is refused. */
export function nodeDetails(r: Row): string {
  const { capabilities, ...rest } = r;
  const caps = (capabilities ?? {}) as {
    details?: Record<string, string>;
    physicalNetworks?: Record<string, { interface: string; mtu: number }>;
  } & Record<string, unknown>;
  const why = caps.details ?? {};
  const lines = Object.entries(caps)
    .filter(([k, v]) => k !== 'details' && typeof v === 'boolean')
    .map(([k, v]) => `  ${k}: ${v ? 'supported' : 'unsupported'}${why[k] ? ` (${why[k]})` : ''}`);
  for (const [k, v] of Object.entries(why)) if (!(k in caps)) lines.push(`  ${k}: ${v}`);
  // the agent's --physical-network mappings: what containers of physical networks can be scheduled here
  const maps = Object.entries(caps.physicalNetworks ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, m]) => `  ${name}: ${m.interface} (mtu ${m.mtu})`);
  return (
    details(rest) +
    `capabilities${lines.length ? '' : '  -'}\n` +
    lines.map((l) => `${l}\n`).join('') +
    `physical networks${maps.length ? '' : '  -'}\n` +
    maps.map((l) => `${l}\n`).join('')
  );
}

export function auditCommand(program: Command, io: () => Io): void {
  program
    .command('audit')
    .description('the audit log (mutating calls, failed authentications, agent streams), newest first (admin)')
    .option('--limit <n>', 'entries to show', positiveInt, 50)
    .action(async (o: { limit: number }) => {
      const items: Row[] = [];
      let after: string | null = null;
      while (items.length < o.limit) {
        const page = (await io().req(
          'GET',
          `/v1/audit?limit=${Math.min(1000, o.limit - items.length)}${after ? `&after=${enc(after)}` : ''}`,
        )) as { items: Row[]; next: string | null };
        items.push(...page.items);
        if (!(after = page.next)) break;
      }
      const col = (header: string, key: string) => ({ header, get: (x: Row) => x[key] as string | number | null });
      emitList(io(), items, [
        col('TIME', 'at'),
        col('SOURCE', 'source'),
        col('ACTOR', 'actor'),
        col('ACTION', 'action'),
        col('OBJECT', 'object'),
        col('OUTCOME', 'outcome'),
        col('CODE', 'code'),
        col('COUNT', 'count'),
        col('TENANT', 'tenant'),
        col('METHOD', 'method'),
        col('PATH', 'path'),
        col('STATUS', 'status'),
      ]);
    });
}

const labelsOf = (l: Record<string, string> | undefined) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
