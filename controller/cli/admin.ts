import type { Command } from 'commander';
import { CliError, enc, listAll } from './client.js';
import { encodeJoin } from '../../protocol/join.js';
import { age, details, table } from './format.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function tenantCommands(program: Command, io: () => Io): void {
  const t = program.command('tenant').description('tenants');
  t.command('create <name>').action(async (name: string) => {
    const r = (await io().req('POST', '/v1/tenants', { name })) as Row;
    emit(io(), r, () => `tenant ${r.name} created (${r.id})\n`);
  });
  t.command('list').action(async () => {
    const items = await listAll<Row>(io().req, '/v1/tenants');
    emit(io(), items, () =>
      table(
        ['NAME', 'ID', 'CREATED'],
        items.map((x) => [x.name, x.id, x.createdAt]),
      ),
    );
  });
  t.command('delete <name>').action(async (name: string) => {
    await io().req('DELETE', `/v1/tenants/${enc(name)}`);
    emit(io(), { deleted: name }, () => `tenant ${name} deleted\n`);
  });
}

export function tokenCommands(program: Command, io: () => Io): void {
  const t = program.command('token').description('API tokens');
  t.command('create')
    .option('--admin', 'an admin token')
    .option('--tenant <name>', 'a token for one tenant')
    .option('--node <name>', 'a token for one node agent: prints its join string (controller URL, token, CA pin)')
    .option('--controller-url <url>', 'the URL agents reach the controller at, for the join string (default: --url)')
    .action(async (o: { admin?: boolean; tenant?: string; node?: string; controllerUrl?: string }) => {
      const kinds = [o.admin && 'admin', o.tenant && 'tenant', o.node && 'node'].filter(Boolean);
      if (kinds.length !== 1) throw new CliError('usage', 'token create: give exactly one of --admin, --tenant NAME, --node NAME', 2);
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
  t.command('list').action(async () => {
    const items = await listAll<Row>(io().req, '/v1/tokens');
    emit(io(), items, () =>
      table(
        ['ID', 'KIND', 'TENANT', 'NODE', 'CREATED', 'REVOKED'],
        items.map((x) => [x.id, x.kind, x.tenant, x.node, x.createdAt, x.revokedAt]),
      ),
    );
  });
  t.command('revoke <id>').action(async (id: string) => {
    const r = await io().req('DELETE', `/v1/tokens/${enc(id)}`);
    emit(io(), r, () => `token ${id} revoked\n`);
  });
}

export function nodeCommands(program: Command, io: () => Io): void {
  const n = program.command('node').description('nodes');
  n.command('list').action(async () => {
    const items = await listAll<Row>(io().req, '/v1/nodes');
    const now = io().now();
    emit(io(), items, () =>
      table(
        ['NAME', 'UNDERLAY', 'READY', 'LAST SEEN', 'CONTAINERS', 'DESIRED', 'APPLIED', 'LAG'],
        items.map((x) => [x.name, x.underlayIp, x.ready, age(x.lastSeen, now), x.containers, x.desiredRevision, x.appliedRevision, x.lag]),
      ),
    );
  });
  n.command('show <name>').action(async (name: string) => {
    const r = (await io().req('GET', `/v1/nodes/${enc(name)}`)) as Row;
    emit(io(), r, () => nodeDetails(r));
  });
  n.command('delete <name>').action(async (name: string) => {
    await io().req('DELETE', `/v1/nodes/${enc(name)}`);
    emit(io(), { deleted: name }, () => `node ${name} deleted\n`);
  });
}

export function statusCommand(program: Command, io: () => Io): void {
  program
    .command('status')
    .description('per node: ready, desired vs applied revision')
    .action(async () => {
      const r = (await io().req('GET', '/v1/status')) as { revision: number; nodes: Row[] };
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
    .option(
      '--limit <n>',
      'entries to show',
      (v: string) => {
        if (!/^\d+$/.test(v) || Number(v) < 1) throw new CliError('usage', `--limit: expected a positive number, got ${v}`, 2);
        return Number(v);
      },
      50,
    )
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
      emit(io(), items, () =>
        table(
          ['TIME', 'SOURCE', 'ACTOR', 'ACTION', 'OBJECT', 'OUTCOME', 'CODE', 'COUNT', 'TENANT', 'METHOD', 'PATH', 'STATUS'],
          items.map((x) => [x.at, x.source, x.actor, x.action, x.object, x.outcome, x.code, x.count, x.tenant, x.method, x.path, x.status]),
        ),
      );
    });
}
