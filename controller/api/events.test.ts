import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { freshDatabase } from '../../test/support/pg.js';
import { SseClient } from '../../test/support/sse.js';
import { buildApp, type AppOptions } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';
import { run } from '../cli/main.js';

const ADMIN = 'admin-secret-for-events-tests';
const log = pino({ level: 'silent' });

/** The events stream against the machine's PostgreSQL (LISTEN/NOTIFY across a controller restart). */
describe('GET /v1/events', () => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let base: string;
  const streams: SseClient[] = [];

  const start = async (extra: Partial<AppOptions> = {}) => {
    app = await buildApp({ db, log, push: false, consoleDir: false, ...extra });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  };
  const call = async (method: string, path: string, body?: unknown, token = ADMIN) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const follow = async (token = ADMIN, query = '', headers: Record<string, string> = {}) => {
    const s = await SseClient.open(`${base}/v1/events${query}`, token, headers);
    streams.push(s);
    expect(s.status).toBe(200);
    await s.until('ready', () => s.messages.find((m) => m.event === 'ready' || m.event === 'resync'));
    return s;
  };
  const logged = async (after: number) =>
    (
      await db.query<{ revision: string; kind: string }>(
        "SELECT revision::text AS revision, kind FROM change_log WHERE revision > $1 AND kind NOT IN ('ipsec_keys', 'tokens') ORDER BY change_log.revision",
        [after],
      )
    ).rows.map((r) => Number(r.revision));

  beforeAll(async () => {
    const fresh = await freshDatabase();
    drop = fresh.drop;
    db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    await start();
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('sends every kind of change in revision order, each with its revision as the SSE id', async () => {
    const s = await follow();
    const from = s.messages[0].data.revision as number;
    await call('POST', '/v1/tenants', { name: 'acme' });
    await call('POST', '/v1/tokens', { kind: 'node', node: 'n1' });
    await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.1.0.0/24' });
    await call('POST', '/v1/tenants/acme/containers', { name: 'web', image: 'busybox', networks: ['blue'] });
    await call('POST', '/v1/tenants/acme/containers/web/actions', { action: 'stop' });
    await call('POST', '/v1/tenants/acme/routers', { name: 'r1' });
    await call('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'blue' });
    await call('DELETE', '/v1/tenants/acme/containers/web');
    await call('POST', '/v1/tenants/acme/routers/r1/detach', { network: 'blue' });
    await call('DELETE', '/v1/tenants/acme/routers/r1');
    await call('POST', '/v1/tenants/acme/security-groups', { name: 'web' });
    await call('POST', '/v1/tenants/acme/security-groups/web/rules', { direction: 'ingress', proto: 'icmp' });
    await call('DELETE', '/v1/tenants/acme/security-groups/web');
    await call('DELETE', '/v1/tenants/acme/networks/blue');
    await call('DELETE', '/v1/tenants/acme');
    const want = await logged(from);
    const got = await s.until('every logged change', () => (s.changes().length >= want.length ? s.changes() : undefined));
    expect(got.map((e) => e.revision)).toEqual(want);
    expect(s.messages.filter((m) => m.event === 'change').map((m) => Number(m.id))).toEqual(want);
    const seen = new Set(got.map((e) => `${e.kind}:${e.op}`));
    for (const k of ['tenant:create', 'node:create', 'network:create', 'container:create', 'endpoint:create', 'container:update']) {
      expect(seen).toContain(k);
    }
    for (const k of ['container:delete', 'endpoint:delete', 'network:delete', 'tenant:delete']) expect(seen).toContain(k);
    for (const k of ['router:create', 'router:delete', 'network:update']) expect(seen).toContain(k);
    for (const k of ['security_group:create', 'security_group:update', 'security_group:delete']) expect(seen).toContain(k);
    const ruled = got.find((e) => e.kind === 'security_group' && e.op === 'update' && e.object?.name === 'web');
    expect(ruled.object).toMatchObject({ name: 'web', tenant: 'acme', rules: [{ direction: 'ingress', proto: 'icmp' }] });
    expect(got.find((e) => e.kind === 'router' && e.op === 'create').object).toMatchObject({ name: 'r1', tenant: 'acme' });
    // objects as the API shows them; deleted objects are null
    const created = got.find((e) => e.kind === 'container' && e.op === 'create' && e.object?.name === 'web');
    expect(created.tenant).toBe('acme');
    expect(created.object.endpoints[0]).toMatchObject({ network: 'blue' });
    expect(got.find((e) => e.kind === 'network' && e.op === 'create').object).toMatchObject({ name: 'blue', cidr: '10.1.0.0/24' });
    expect(got.filter((e) => e.op === 'delete').every((e) => e.object === null)).toBe(true);
    // observed state arrives as status events (not logged, no SSE id)
    await call('POST', '/v1/tenants', { name: 'stat' });
    await call('POST', '/v1/tenants/stat/networks', { name: 'n', cidr: '10.9.0.0/24' });
    await call('POST', '/v1/tenants/stat/containers', { name: 'c', image: 'busybox', networks: ['n'] });
    await db.query("UPDATE containers SET observed_state = 'running', restarts = 2 WHERE name = 'c'");
    const st = await s.until('status event', () => s.messages.find((m) => m.event === 'status' && m.data.object?.name === 'c'));
    expect(st.id).toBeUndefined();
    expect(st.data).toMatchObject({ kind: 'container', op: 'status', tenant: 'stat', object: { observedState: 'running', restarts: 2 } });
    await db.query("UPDATE nodes SET applied_revision = 7, desired_revision = 9 WHERE name = 'n1'");
    const ns = await s.until('node lag', () => s.messages.find((m) => m.event === 'status' && m.data.kind === 'node'));
    expect(ns.data.object).toMatchObject({ name: 'n1', appliedRevision: 7, desiredRevision: 9, lag: 2 });
    // readiness is logged: a change event with a revision
    await db.query("UPDATE nodes SET ready = true WHERE name = 'n1'");
    await s.until('ready node', () => s.changes().find((e) => e.kind === 'node' && e.op === 'update' && e.object?.ready === true));
  });

  it('a tenant token sees its own tenant only (no other tenant, no nodes)', async () => {
    await call('POST', '/v1/tenants', { name: 'ta' });
    await call('POST', '/v1/tenants', { name: 'tb' });
    const ta = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'ta' })).token as string;
    const tb = (await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'tb' })).token as string;
    const sa = await follow(ta, '?since=0');
    const sb = await follow(tb);
    const admin = await follow();
    await call('POST', '/v1/tenants/ta/networks', { name: 'red', cidr: '10.2.0.0/24' });
    await call('POST', '/v1/tenants/ta/containers', { name: 'secret-a', image: 'busybox', networks: ['red'] });
    await call('POST', '/v1/tenants/tb/networks', { name: 'green', cidr: '10.2.0.0/24' });
    await call('POST', '/v1/tenants/tb/containers', { name: 'only-b', image: 'busybox', networks: ['green'] });
    await call('POST', '/v1/tokens', { kind: 'node', node: 'n2' });
    await db.query("UPDATE containers SET observed_state = 'running' WHERE name IN ('secret-a', 'only-b')");
    await admin.until('both', () => admin.changes().some((e) => e.object?.name === 'only-b') && admin.messages.length > 8);
    await sb.until('b status', () => sb.messages.find((m) => m.event === 'status' && m.data.object?.name === 'only-b'));
    await sa.until('a status', () => sa.messages.find((m) => m.event === 'status' && m.data.object?.name === 'secret-a'));
    // since=0 replayed the whole log for ta: still only its own rows
    const text = (s: SseClient) => JSON.stringify(s.messages.filter((m) => m.event !== 'ready'));
    expect(text(sb)).not.toMatch(/secret-a|"ta"|"red"|"n2"/);
    expect(text(sa)).not.toMatch(/only-b|"tb"|"green"|"n2"|"acme"|"stat"/);
    for (const m of [...sa.messages, ...sb.messages].filter((x) => x.event !== 'ready')) expect(m.data.kind).not.toBe('node');
    expect(sa.changes().every((e) => e.tenant === 'ta')).toBe(true);
    expect(sb.changes().every((e) => e.tenant === 'tb')).toBe(true);
    expect(sa.changes().some((e) => e.kind === 'tenant' && e.object?.name === 'ta')).toBe(true);
  });

  it('with no stream open reads nothing of the log but follows its revision; a later stream replays from any since', async () => {
    for (const s of streams.splice(0)) s.close();
    const metric = async (name: string) => {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    };
    await expect.poll(() => metric('freight_events_streams'), { timeout: 5000 }).toBe(0);
    const since = Math.max(0, ...(await logged(0)));
    const reads = await metric('freight_events_reads_total');
    await call('POST', '/v1/tenants', { name: 'quiet' });
    await call('POST', '/v1/tenants/quiet/networks', { name: 'net', cidr: '10.4.0.0/24' });
    const newest = Number((await db.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log')).rows[0].r);
    await expect.poll(() => metric('freight_events_revision'), { timeout: 5000 }).toBe(newest);
    expect(await metric('freight_events_reads_total')).toBe(reads);
    // what nobody read is replayed to a stream that asks for it, then the stream is live
    const r = await follow(ADMIN, `?since=${since}`);
    const want = await logged(since);
    const got = await r.until('replayed', () => (r.changes().length >= want.length ? r.changes() : undefined));
    expect(got.map((e) => e.revision)).toEqual(want);
    expect(got.some((e) => e.kind === 'network' && e.object?.name === 'net')).toBe(true);
    await call('POST', '/v1/tenants', { name: 'heard' });
    await r.until('live', () => r.changes().find((e) => e.kind === 'tenant' && e.object?.name === 'heard'));
    expect(await metric('freight_events_reads_total')).toBeGreaterThan(reads);
  });

  it('resumes with since (and Last-Event-ID) across a controller restart without losing an event', async () => {
    const s = await follow();
    await call('POST', '/v1/tenants', { name: 'resume' });
    await call('POST', '/v1/tenants/resume/networks', { name: 'net', cidr: '10.3.0.0/24' });
    const last = await s.until('network', () => s.messages.filter((m) => m.event === 'change').at(-1));
    const since = Number(last.id);
    s.close();
    await app.close();
    // changes while no controller runs, then more right after the new one starts
    await db.tx(async (q) => {
      await q.query("INSERT INTO tenants (name) VALUES ('offline')");
    });
    await start();
    const made = call('POST', '/v1/tenants/resume/containers', { name: 'after', image: 'busybox', networks: ['net'] });
    const r = await follow(ADMIN, `?since=${since}`);
    const h = await follow(ADMIN, '', { 'last-event-id': String(since) });
    await made;
    const want = await logged(since);
    for (const c of [r, h]) {
      const got = await c.until('resumed', () => (c.changes().length >= want.length ? c.changes() : undefined));
      expect(got.map((e) => e.revision)).toEqual(want);
      expect(got.some((e) => e.kind === 'tenant' && e.object?.name === 'offline')).toBe(true);
    }
  });

  it('freightctl events and container list --watch print the changes', async () => {
    const ctl = (args: string[]) => {
      let out = '';
      let err = '';
      const done = run(
        args,
        { FREIGHT_URL: base, FREIGHT_TOKEN: ADMIN, FREIGHT_INSECURE: '1' },
        (x) => (out += x),
        (x) => (err += x),
      );
      return { done, out: () => out, err: () => err };
    };
    const { rows } = await db.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log');
    const since = Number(rows[0].r);
    await call('POST', '/v1/tenants', { name: 'cli' });
    await call('POST', '/v1/tenants/cli/networks', { name: 'lan', cidr: '10.4.0.0/24' });
    // the tenant, its default security group (in the same transaction), the network
    const lines = ctl(['events', '--since', String(since), '--limit', '3']);
    expect(await lines.done).toBe(0);
    expect(lines.out()).toMatch(new RegExp(`^\\s*${since + 1}  create  security_group  cli/default$`, 'm'));
    expect(lines.out()).toMatch(new RegExp(`^\\s*${since + 2}  create  tenant +cli$`, 'm'));
    expect(lines.out()).toMatch(new RegExp(`^\\s*${since + 3}  create  network +cli/lan  vxlan  10.4.0.0/24`, 'm'));
    const json = ctl(['--json', 'events', '--since', String(since), '--limit', '4']);
    expect(await json.done).toBe(0);
    const evs = json
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(evs.map((e) => e.revision)).toEqual([since + 1, since + 2, since + 3, since + 4]);
    // --watch: the list first, then a line per container change
    const watch = ctl(['container', 'list', 'cli', '--watch', '--limit', '1']);
    const w = new SseClient(); // only for its until()
    await w.until('the list', () => watch.out().includes('TENANT'));
    await call('POST', '/v1/tenants/cli/containers', { name: 'watched', image: 'busybox', networks: ['lan'] });
    expect(await watch.done).toBe(0);
    expect(watch.out()).toMatch(/^TENANT.*\nCREATE {2}cli +watched +busybox/m);
    const bad = ctl(['events', '--since', 'x']);
    expect(await bad.done).toBe(2);
  });

  it('answers resync when the log no longer reaches back, and 400 for a bad since', async () => {
    const { rows } = await db.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log');
    await db.query('DELETE FROM change_log WHERE revision < $1', [Number(rows[0].r)]);
    const s = await follow(ADMIN, '?since=1');
    const m = s.messages[0];
    expect(m.event).toBe('resync');
    expect(m.data).toMatchObject({ since: 1, oldest: Number(rows[0].r) });
    expect(m.data.message).toMatch(/no longer in the change log/);
    // followed by the live stream
    await s.until('ready after resync', () => s.messages.find((x) => x.event === 'ready'));
    const bad = await fetch(`${base}/v1/events?since=abc`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'invalid', path: 'since' });
    const none = await fetch(`${base}/v1/events`);
    expect(none.status).toBe(401);
  });

  it('drops a client that does not read, without hurting the controller or the other streams', async () => {
    await app.close();
    await start({ events: { highWaterBytes: 1024 * 1024, batchRows: 200 } });
    const good = await follow();
    const from = good.messages[0].data.revision as number;
    // a client that sends its request and never reads a byte
    const port = new URL(base).port;
    const slow = net.connect(Number(port), '127.0.0.1');
    slow.on('error', () => {});
    slow.pause();
    slow.write(`GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\n\r\n`);
    const metric = async (name: string) => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    };
    for (let i = 0; (await metric('freight_events_streams')) !== 2; i++) {
      if (i > 400) throw new Error('the slow client never got a stream');
      await new Promise((r) => setTimeout(r, 25));
    }
    await db.query("INSERT INTO tenants (name) VALUES ('flood')");
    await db.query(
      "INSERT INTO containers (tenant_id, name, image) SELECT t.id, 'flood-' || g, 'busybox' FROM tenants t, generate_series(1, 1000) g WHERE t.name = 'flood'",
    );
    // ~1000 events of ~600 bytes per round: well past the socket buffers and the 1 MiB mark
    let dropped = 0;
    for (let round = 0; round < 60 && dropped === 0; round++) {
      await db.query("UPDATE containers SET generation = generation + 1 WHERE name LIKE 'flood-%'");
      dropped = await metric('freight_events_dropped_total');
    }
    expect(dropped).toBe(1);
    expect(await metric('freight_events_streams')).toBe(1);
    // the reader that keeps up got every change, in order; the controller still answers
    const want = await logged(from);
    const got = await good.until('all flood events', () => (good.changes().length >= want.length ? good.changes() : undefined), 60_000);
    expect(got.map((e) => e.revision)).toEqual(want);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    slow.destroy();
  }, 120_000);
});
