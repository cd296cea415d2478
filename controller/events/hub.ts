import type { Logger } from 'pino';
import type { ChangeEvent, EventOp, ResyncEvent } from '../../protocol/events.js';
import type { Db, Queryable } from '../store/db.js';
import { Serial } from '../../lib/serial.js';
import { counterOf, gaugeOf, type Registry } from '../../lib/metrics.js';
import { eventKind, loadObjects } from './kinds.js';
import type { Subscriber } from './subscriber.js';

/** One change-log row as the events stream reads it (with the tenant, which the push hub does not need). */
export interface LogRow {
  revision: number;
  kind: string;
  objectId: string;
  op: 'insert' | 'update' | 'delete';
  tenantId: string | null;
  at: string;
}

export interface EventsOptions {
  /** Rows read per query (catch-up and replay). */
  batchRows: number;
  /** A resume further back than this many revisions answers `resync` instead of replaying. */
  maxReplay: number;
  /** A client whose socket holds more than this many unsent bytes is dropped. */
  highWaterBytes: number;
  /** Comment line every so often: keeps proxies from closing an idle stream, finds dead clients. */
  keepAliveMs: number;
  /** Streams at most per replica (more answer 503). */
  maxStreams: number;
}
export const EVENTS_DEFAULTS: EventsOptions = {
  batchRows: 2000,
  maxReplay: 100_000,
  highWaterBytes: 4 * 1024 * 1024,
  keepAliveMs: 15_000,
  maxStreams: 1000,
};

const OPS: Record<LogRow['op'], EventOp> = { insert: 'create', update: 'update', delete: 'delete' };

/**
 * One replica's events engine. Follows the change log on NOTIFY freight_change (as the push hub
 * does), turns each row into an event carrying the object as the API shows it, and sends it to
 * every subscriber whose scope covers the row's tenant (admins: all; a tenant token: rows of its
 * tenant only; rows without a tenant, such as nodes, are for admins). Observed state, which the
 * log does not hold, arrives on NOTIFY freight_status and goes out as `status` events.
 * One serial queue orders reads, replays and fan-out, so every subscriber sees revision order.
 */
export class EventHub {
  private cursor = 0;
  private readonly subs = new Set<Subscriber>();
  private readonly serial = new Serial();
  /** Tenant id → name (kept after a delete, for the delete's own event) and name → current id. */
  private readonly tenantName = new Map<string, string>();
  private readonly tenantId = new Map<string, string>();
  private readonly status = new Map<string, Set<string>>();
  private queued = false;
  private statusQueued = false;
  private retry?: NodeJS.Timeout;
  private closed = false;
  private stops: Array<() => Promise<void>> = [];
  private readonly counters = { sent: 0, dropped: 0, resyncs: 0, errors: 0, reads: 0 };

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    readonly opts: EventsOptions = EVENTS_DEFAULTS,
    registry?: Registry,
  ) {
    if (registry) this.registerMetrics(registry);
  }

  get revision(): number {
    return this.cursor;
  }

  get streams(): number {
    return this.subs.size;
  }

  /**
   * Reads the newest revision, then follows NOTIFY. Never fails: with the database away it keeps
   * trying (streams opened meanwhile wait in the queue), so the controller starts without it.
   */
  async start(): Promise<void> {
    void this.serial.run(async () => {
      for (let delay = 250; !this.closed; delay = Math.min(delay * 2, 5000)) {
        try {
          this.cursor = await newestRevision(this.db);
          await this.refreshTenants();
          return;
        } catch (err) {
          this.counters.errors++;
          this.log.warn({ err }, 'events: database unavailable at start, retrying');
          await new Promise((r) => setTimeout(r, delay).unref());
        }
      }
    });
    this.stops.push(
      await this.db.listen(
        'freight_change',
        (p) => this.onChange(p),
        () => void this.catchUp(),
      ),
    );
    this.stops.push(await this.db.listen('freight_status', (p) => this.onStatus(p)));
    // changes committed between reading the revision and LISTEN
    void this.catchUp();
  }

  /** Adds a stream: live from now, or first the rows after `since` (a `resync` when the log no longer has them). */
  subscribe(sub: Subscriber, since: number | undefined): Promise<void> {
    return this.serial.run(async () => {
      if (sub.ended) return;
      if (since !== undefined && since < this.cursor) await this.replay(sub, since);
      if (sub.ended) return;
      this.subs.add(sub);
      sub.onEnd(() => this.subs.delete(sub));
      sub.send('ready', { revision: this.cursor });
    });
  }

  dropped(): void {
    this.counters.dropped++;
  }

  /**
   * NOTIFY freight_change carries the committed revision. With no stream open on this replica
   * nothing is read: the cursor moves to that revision (a stream that opens later replays from it,
   * or starts live there). Reading and loading every change for nobody cost the database and this
   * event loop a query per object kind per commit.
   */
  private onChange(payload: string): void {
    const revision = Number(payload);
    if (this.subs.size === 0 && !this.queued && Number.isSafeInteger(revision)) {
      // in the queue: a replay or catch-up under way keeps its cursor until it is done
      void this.serial.run(() => {
        if (this.subs.size === 0) this.cursor = Math.max(this.cursor, revision);
        else void this.catchUp(); // a stream opened meanwhile: read (queued behind this task, not awaited)
      });
      return;
    }
    void this.catchUp();
  }

  /** Reads the change log past the cursor (coalesced: a NOTIFY burst costs one read). */
  catchUp(): Promise<void> {
    if (this.queued || this.closed) return Promise.resolve();
    this.queued = true;
    return this.serial.run(async () => {
      this.queued = false;
      try {
        for (;;) {
          this.counters.reads++;
          const rows = await readLog(this.db, this.cursor, this.opts.batchRows);
          if (rows.length === 0) return;
          const events = await this.toEvents(this.db, rows);
          this.cursor = rows[rows.length - 1].revision;
          for (const e of events) this.fanOut('change', e);
          if (rows.length < this.opts.batchRows) return;
        }
      } catch (err) {
        this.failed(err, () => void this.catchUp());
      }
    });
  }

  private failed(err: unknown, again: () => void): void {
    this.counters.errors++;
    this.log.warn({ err }, 'events: database unavailable, retrying');
    clearTimeout(this.retry);
    if (!this.closed) this.retry = setTimeout(again, 1000);
  }

  private async replay(sub: Subscriber, since: number): Promise<void> {
    const oldest = await oldestRevision(this.db);
    const lost = this.cursor - since > this.opts.maxReplay || oldest === null || oldest > since + 1;
    if (lost) {
      this.counters.resyncs++;
      const r: ResyncEvent = {
        since,
        oldest: oldest ?? this.cursor + 1,
        revision: this.cursor,
        message: `events after revision ${since} are no longer in the change log (oldest ${oldest ?? 'none'}): list the objects again`,
      };
      sub.send('resync', r);
      return;
    }
    let after = since;
    while (after < this.cursor && !sub.ended) {
      const rows = (await readLog(this.db, after, this.opts.batchRows)).filter((r) => r.revision <= this.cursor);
      if (rows.length === 0) break;
      for (const e of await this.toEvents(this.db, rows)) if (sub.sees(e.tenantId)) sub.send('change', e.event, e.event.revision);
      after = rows[rows.length - 1].revision;
    }
  }

  private async toEvents(q: Queryable, rows: LogRow[]): Promise<Array<{ tenantId: string | null; event: ChangeEvent }>> {
    const want = new Map<string, Set<string>>();
    for (const r of rows) {
      if (eventKind(r.kind).hidden || r.op === 'delete') continue;
      if (!want.has(r.kind)) want.set(r.kind, new Set());
      want.get(r.kind)!.add(r.objectId);
    }
    const objects = await loadObjects(q, want);
    if (rows.some((r) => r.kind === 'tenants' || (r.tenantId && !this.tenantName.has(r.tenantId)))) await this.refreshTenants(q);
    const out = [];
    for (const r of rows) {
      const k = eventKind(r.kind);
      if (k.hidden) continue;
      const object = r.op === 'delete' ? null : (objects.get(r.kind)?.get(r.objectId) ?? null);
      const tenant = r.tenantId ? (this.tenantName.get(r.tenantId) ?? null) : null;
      out.push({
        tenantId: r.tenantId,
        event: { revision: r.revision, kind: k.name, op: OPS[r.op], id: r.objectId, tenant, at: r.at, object },
      });
    }
    return out;
  }

  /** Tenants (few): the names events carry and the ids status events are scoped by. */
  private async refreshTenants(q: Queryable = this.db): Promise<void> {
    const { rows } = await q.query<{ id: string; name: string }>('SELECT id::text AS id, name FROM tenants');
    this.tenantId.clear();
    for (const r of rows) {
      this.tenantName.set(r.id, r.name);
      this.tenantId.set(r.name, r.id);
    }
  }

  private onStatus(payload: string): void {
    const m = /^([a-z_]{1,40}):([0-9a-f-]{36})$/.exec(payload);
    if (!m || this.subs.size === 0) return; // observed state is not kept: nobody to tell
    if (!this.status.has(m[1])) this.status.set(m[1], new Set());
    this.status.get(m[1])!.add(m[2]);
    if (this.statusQueued || this.closed) return;
    this.statusQueued = true;
    void this.serial.run(async () => {
      this.statusQueued = false;
      const want = new Map(this.status);
      this.status.clear();
      try {
        const objects = await loadObjects(this.db, want);
        for (const [kind, byId] of objects) {
          for (const [id, object] of byId) {
            const tenantName = typeof object.tenant === 'string' ? object.tenant : null;
            const tenantId = tenantName ? (this.tenantId.get(tenantName) ?? 'unknown') : null;
            const event: ChangeEvent = { revision: this.cursor, kind: eventKind(kind).name, op: 'status', id, tenant: tenantName, object };
            this.fanOut('status', { tenantId, event });
          }
        }
      } catch (err) {
        // observed state comes again with the next report; a lost status is not worth a retry loop
        this.counters.errors++;
        this.log.warn({ err }, 'events: reading observed state failed');
      }
    });
  }

  private fanOut(name: 'change' | 'status', e: { tenantId: string | null; event: ChangeEvent }): void {
    const id = name === 'change' ? e.event.revision : undefined;
    const text = JSON.stringify(e.event);
    for (const s of this.subs) {
      if (!s.sees(e.tenantId)) continue;
      s.sendText(name, text, id);
      this.counters.sent++;
    }
  }

  private registerMetrics(r: Registry): void {
    const n = this.counters;
    gaugeOf(r, 'freight_events_streams', 'Open events streams (GET /v1/events) on this replica.', () => this.subs.size);
    gaugeOf(r, 'freight_events_revision', 'Newest change-log revision the events stream has read.', () => this.cursor);
    counterOf(r, 'freight_events_sent_total', 'Events written to streams.', () => n.sent);
    counterOf(r, 'freight_events_reads_total', 'Change-log reads for live streams (none while no stream is open).', () => n.reads);
    counterOf(
      r,
      'freight_events_dropped_total',
      'Streams dropped because the client did not read (past the high-water mark).',
      () => n.dropped,
    );
    counterOf(r, 'freight_events_resyncs_total', 'Resumes answered with resync (the log no longer reached back).', () => n.resyncs);
    counterOf(r, 'freight_events_db_errors_total', 'Change-log or status reads that failed.', () => n.errors);
  }

  private closing?: Promise<void>;
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    for (const stop of this.stops) await stop().catch(() => {});
    for (const s of this.subs) s.end();
    await this.serial.run(async () => {});
  }
}

async function newestRevision(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ r: string | null }>('SELECT max(revision)::text AS r FROM change_log');
  return Number(rows[0]?.r ?? 0);
}

async function oldestRevision(q: Queryable): Promise<number | null> {
  const { rows } = await q.query<{ r: string | null }>('SELECT min(revision)::text AS r FROM change_log');
  return rows[0]?.r === null || rows[0]?.r === undefined ? null : Number(rows[0].r);
}

async function readLog(q: Queryable, after: number, limit: number): Promise<LogRow[]> {
  const { rows } = await q.query<{
    revision: string;
    kind: string;
    object_id: string;
    op: LogRow['op'];
    tenant_id: string | null;
    at: Date | string;
  }>(
    `SELECT revision::text AS revision, kind, object_id::text AS object_id, op, tenant_id::text AS tenant_id, at
       FROM change_log c WHERE c.revision > $1 ORDER BY c.revision LIMIT $2`, // the bigint, not the text alias
    [after, limit],
  );
  return rows.map((r) => ({
    revision: Number(r.revision),
    kind: r.kind,
    objectId: r.object_id,
    op: r.op,
    tenantId: r.tenant_id,
    at: new Date(r.at).toISOString(),
  }));
}
