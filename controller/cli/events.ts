import type { Command } from 'commander';
import type { ChangeEvent, ResyncEvent } from '../../protocol/events.js';
import { CliError } from './client.js';
import type { Io } from './output.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** One line per event for people: revision, op, kind, tenant/name, then what matters for the kind. */
export function eventLine(e: ChangeEvent): string {
  const o = (e.object ?? {}) as Obj;
  const name = typeof o.name === 'string' ? o.name : typeof o.container === 'string' ? `${o.container}@${o.network}` : e.id;
  const ref = e.tenant && e.kind !== 'tenant' ? `${e.tenant}/${name}` : name;
  return [String(e.revision).padStart(6), e.op.padEnd(6), e.kind.padEnd(10), ref, ...detailsOf(e.kind, o)].join('  ').trimEnd() + '\n';
}

function detailsOf(kind: string, o: Obj): string[] {
  if (!o || Object.keys(o).length === 0) return [];
  switch (kind) {
    case 'container':
      return [`node=${o.node ?? '-'}`, `${o.desiredState}/${o.observedState}`, ((o.endpoints ?? []) as Obj[]).map((x) => x.ip).join(',')];
    case 'network':
      return [o.type, o.cidr, `vni=${o.vni}`];
    case 'endpoint':
      return [o.ip, o.mac, `node=${o.node ?? '-'}`];
    case 'node':
      return [o.ready ? 'Ready' : 'NotReady', `applied=${o.appliedRevision}`, `desired=${o.desiredRevision}`, `lag=${o.lag}`];
    default:
      return [];
  }
}

export interface FollowArgs {
  since?: number;
  limit?: number;
  json: boolean;
  /** Only events this returns true for are printed (and counted). */
  filter?: (e: ChangeEvent) => boolean;
  format?: (e: ChangeEvent) => string;
  /** The stream is live from this revision on (the `ready` event). */
  onReady?: (revision: number) => Promise<void>;
}

/** Follows the events stream until interrupted (or `limit` events): lines, or one JSON object per line. */
export async function followEvents(io: Io, a: FollowArgs): Promise<void> {
  const follow = io.follow;
  if (!follow) throw new CliError('usage', 'events: this freightctl has no stream transport', 2);
  let printed = 0;
  const queue: ChangeEvent[] = [];
  // with onReady (container list --watch) events wait until the listing is printed
  let gate: Promise<void> | undefined;
  let open = !a.onReady;
  let failed: Error | undefined;
  const drain = () => {
    if (!open) return;
    for (const e of queue.splice(0)) {
      io.write(a.json ? JSON.stringify(e) + '\n' : (a.format ?? eventLine)(e));
      printed++;
    }
  };
  await follow('/v1/events', {
    since: a.since,
    onMessage: (m) => {
      if (failed) return false;
      if (m.event === 'ready' && a.onReady && !gate) {
        gate = a.onReady((JSON.parse(m.data) as { revision: number }).revision).then(
          () => ((open = true), drain()),
          (err: unknown) => void (failed = err instanceof Error ? err : new Error(String(err))),
        );
      } else if (m.event === 'resync') {
        const r = JSON.parse(m.data) as ResyncEvent;
        if (a.json) io.write(JSON.stringify({ resync: r }) + '\n');
        else io.writeErr?.(`freightctl: resync: ${r.message}\n`);
      } else if (m.event === 'change' || m.event === 'status') {
        const e = JSON.parse(m.data) as ChangeEvent;
        if (a.filter && !a.filter(e)) return;
        queue.push(e);
        drain();
      }
      return a.limit === undefined || printed + queue.length < a.limit;
    },
  });
  await gate;
  if (failed) throw failed;
  open = true;
  drain();
}

export function eventsCommand(program: Command, io: () => Io): void {
  program
    .command('events')
    .description('follow changes as they happen (GET /v1/events): one line per change, or JSON lines with --json')
    .option('--since <revision>', 'first replay the changes after this change-log revision')
    .option('--limit <n>', 'stop after this many events')
    .action(async (o: { since?: string; limit?: string }) => {
      const since = o.since === undefined ? undefined : Number(o.since);
      if (since !== undefined && !(Number.isInteger(since) && since >= 0))
        throw new CliError('usage', '--since: expected a revision number', 2);
      const limit = o.limit === undefined ? undefined : Number(o.limit);
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
        throw new CliError('usage', '--limit: expected a positive number', 2);
      await followEvents(io(), { since, limit, json: io().json });
    });
}
