import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BACKENDS } from '../../test/support/backends.js';
import { adminUrl, freshDatabase } from '../../test/support/pg.js';
import { buildApp } from '../app.js';
import { ensureAdminToken, hashToken } from '../auth.js';
import { migrate, openDb, sqlState, type Db, type Queryable } from './db.js';
import { advisoryLeader } from '../keys/leader.js';

const ADMIN = 'privileges-admin-token';
const log = pino({ level: 'silent' });

/** Runs `fn` as freight_api with freight.tenant = `tenant`, as every API transaction does. */
const asApi = <T>(db: Db, tenant: string, fn: (q: Queryable) => Promise<T>) =>
  db.tx(async (q) => {
    await q.query("SELECT set_config('role', 'freight_api', true), set_config('freight.tenant', $1, true)", [tenant]);
    return fn(q);
  });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e) => sqlState(e) ?? String(e),
  );

// Our functions, as schema.sql defines them (extension functions of btree_gist live in public too).
const OURS = `p.proname = 'record_change' OR p.proname = 'endpoint_check' OR p.proname LIKE 'log\\_%' OR p.proname LIKE 'freight\\_%'`;

describe.each(BACKENDS)('SQL privileges on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let tenantId: string;

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false });
    const call = (method: 'POST' | 'DELETE', url: string, body?: unknown) =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        payload: body ? JSON.stringify(body) : undefined,
      });
    expect((await call('POST', '/v1/tenants', { name: 'acme' })).statusCode).toBe(201);
    expect((await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.0.0.0/24' })).statusCode).toBe(201);
    tenantId = (await db.query<{ id: string }>("SELECT id FROM tenants WHERE name = 'acme'")).rows[0].id;
    await db.query("INSERT INTO nodes (name, underlay_ip) VALUES ('n1', '198.18.0.1'), ('n2', '198.18.0.2')");
    // the routes that write tokens and remove nodes run as the owner and still work
    const tok = await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' });
    expect(tok.statusCode).toBe(201);
    expect((await call('DELETE', `/v1/tokens/${tok.json().id}`)).statusCode).toBe(200);
    expect((await call('DELETE', '/v1/nodes/n2')).statusCode).toBe(204);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('every SECURITY DEFINER function pins search_path to pg_catalog, and PUBLIC may execute none of ours', async () => {
    const { rows } = await db.query<{ proname: string; prosecdef: boolean; config: string | null; public_exec: boolean }>(
      `SELECT p.proname, p.prosecdef, array_to_string(p.proconfig, ';') AS config,
              COALESCE((SELECT bool_or(a.grantee = 0) FROM aclexplode(p.proacl) a WHERE a.privilege_type = 'EXECUTE'), p.proacl IS NULL) AS public_exec
         FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND (${OURS})`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(12);
    const definers = rows.filter((r) => r.prosecdef);
    expect(definers.map((r) => r.proname)).toEqual(
      expect.arrayContaining([
        'endpoint_check',
        'freight_free_vni',
        'freight_node_loads',
        'log_container',
        'log_endpoint',
        'log_image_repository',
        'log_ipsec_key',
        'log_network',
        'log_node',
      ]),
    );
    expect(rows.find((r) => r.proname === 'record_change')?.prosecdef).toBe(false);
    // pg_catalog first and explicit; nothing a caller or another role controls ("$user", pg_temp before it)
    for (const r of definers) expect(r.config, r.proname).toMatch(/^search_path=pg_catalog, (pg_temp|public)$/);
    for (const r of rows) expect(r.public_exec, r.proname).toBe(false);
    // no definer function of the whole schema (extensions included) runs with the caller's path
    const loose = await db.query(
      `SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prosecdef AND proconfig IS NULL`,
    );
    expect(loose.rows).toEqual([]);
  });

  it('freight_api cannot write tokens or remove nodes, not even in admin scope; it reads no token at all', async () => {
    const id = (await db.query<{ id: string }>('SELECT id FROM tokens LIMIT 1')).rows[0].id;
    for (const scope of ['*', tenantId]) {
      expect(await failure(asApi(db, scope, (q) => q.query("INSERT INTO tokens (hash, kind) VALUES ('x', 'admin')")))).toBe('42501');
      expect(await failure(asApi(db, scope, (q) => q.query('UPDATE tokens SET revoked_at = NULL WHERE id = $1', [id])))).toBe('42501');
      expect(await failure(asApi(db, scope, (q) => q.query('SELECT hash FROM tokens')))).toBe('42501');
      expect(await failure(asApi(db, scope, (q) => q.query("DELETE FROM nodes WHERE name = 'n1'")))).toBe('42501');
      expect(await failure(asApi(db, scope, (q) => q.query("UPDATE nodes SET ready = true WHERE name = 'n1'")))).toBe('42501');
      expect(await failure(asApi(db, scope, (q) => q.query('SELECT * FROM idempotency_keys')))).toBe('42501');
      // change_log is written by the trigger functions only
      expect(
        await failure(asApi(db, scope, (q) => q.query("SELECT public.record_change('x', gen_random_uuid(), 'insert', NULL, NULL, '{}')"))),
      ).toBe('42501');
      expect(
        await failure(
          asApi(db, scope, (q) => q.query("INSERT INTO change_log (kind, object_id, op) VALUES ('x', gen_random_uuid(), 'insert')")),
        ),
      ).toBe('42501');
    }
    // a tenant-scoped transaction reads and locks its tenant row but cannot create or delete tenants
    expect((await asApi(db, tenantId, (q) => q.query('SELECT name FROM tenants'))).rows).toEqual([{ name: 'acme' }]);
    expect(await failure(asApi(db, tenantId, (q) => q.query("INSERT INTO tenants (id, name) VALUES ($1::uuid, 'evil')", [tenantId])))).toBe(
      '42501',
    );
    expect(await failure(asApi(db, tenantId, (q) => q.query("INSERT INTO tenants (name) VALUES ('evil')")))).toBe('42501');
    expect((await asApi(db, tenantId, (q) => q.query('DELETE FROM tenants WHERE id = $1 RETURNING id', [tenantId]))).rows).toEqual([]);
    expect((await asApi(db, tenantId, (q) => q.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]))).rows).toEqual([
      { id: tenantId },
    ]);
    expect((await db.query("SELECT 1 FROM nodes WHERE name = 'n1'")).rows).toHaveLength(1);
    // reading nodes stays possible (a container shows its node's name)
    expect((await asApi(db, tenantId, (q) => q.query('SELECT name FROM nodes'))).rows).toEqual([{ name: 'n1' }]);
  });

  it('migrate takes back what older schemas granted (an upgraded database ends like a fresh one)', async () => {
    await db.script(`GRANT SELECT, INSERT, UPDATE ON tokens TO freight_api; GRANT SELECT, DELETE ON nodes TO freight_api;
      GRANT UPDATE (name) ON nodes TO freight_api;
      GRANT EXECUTE ON FUNCTION record_change(text, uuid, text, uuid, uuid, uuid[]), endpoint_check(), freight_free_vni() TO PUBLIC;
      ALTER FUNCTION endpoint_check() RESET search_path`);
    expect(await failure(asApi(db, '*', (q) => q.query("UPDATE tokens SET revoked_at = NULL WHERE kind = 'x'")))).toBe('ok');
    await migrate(db);
    expect(await failure(asApi(db, '*', (q) => q.query("UPDATE tokens SET revoked_at = NULL WHERE kind = 'x'")))).toBe('42501');
    expect(await failure(asApi(db, '*', (q) => q.query("DELETE FROM nodes WHERE name = 'x'")))).toBe('42501');
    expect(await failure(asApi(db, '*', (q) => q.query("SELECT name FROM nodes WHERE name = 'n1' FOR UPDATE")))).toBe('42501');
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND (${OURS})
          AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0) OR (p.prosecdef AND p.proconfig IS NULL))`,
    );
    expect(Number(rows[0].n)).toBe(0);
  });

  it('change_log and audit_log are visible to admin transactions only', async () => {
    await app.audit.flush();
    const counts = async (scope: string) =>
      asApi(db, scope, async (q) => [
        Number((await q.query<{ n: string }>('SELECT count(*) AS n FROM change_log')).rows[0].n),
        Number((await q.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0].n),
      ]);
    const admin = await counts('*');
    expect(admin[0]).toBeGreaterThan(0);
    expect(admin[1]).toBeGreaterThan(0);
    expect(await counts(tenantId)).toEqual([0, 0]);
    expect(await counts('')).toEqual([0, 0]);
  });
});

/** The definitions of before this change, to show the attacks below are real (and what they hit). */
const OLD_FUNCTIONS = `
CREATE OR REPLACE FUNCTION endpoint_check() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE n public.networks%ROWTYPE; c_tenant uuid;
BEGIN
  SELECT * INTO n FROM public.networks WHERE id = NEW.network_id;
  IF NOT (NEW.ip << n.cidr) OR host(NEW.ip) = host(network(n.cidr)) OR host(NEW.ip) = host(broadcast(n.cidr))
     OR (n.gateway IS NOT NULL AND host(NEW.ip)::inet = host(n.gateway)::inet) THEN
    RAISE EXCEPTION 'address % is not a host address of network % (%)', host(NEW.ip), n.name, n.cidr USING ERRCODE = '23514';
  END IF;
  SELECT tenant_id INTO c_tenant FROM public.containers WHERE id = NEW.container_id;
  IF c_tenant <> n.tenant_id OR NEW.tenant_id <> n.tenant_id THEN RAISE EXCEPTION 'endpoint tenant differs' USING ERRCODE = '23514'; END IF;
  RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION record_change(kind text, obj uuid, op text, tenant uuid, net uuid, nodes uuid[])
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE rev bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(7405517);
  INSERT INTO public.change_log (kind, object_id, op, tenant_id, network_id, node_ids)
  VALUES (kind, obj, lower(op), tenant, net, array_remove(nodes, NULL)) RETURNING revision INTO rev;
  PERFORM pg_notify('freight_change', rev::text);
END $$;
GRANT EXECUTE ON FUNCTION endpoint_check(), record_change(text, uuid, text, uuid, uuid, uuid[]) TO PUBLIC;`;

// What the attacker plants in its own schema: look-alikes of what the definer functions call,
// each of which reads the tokens table with the rights it runs with and raises them out.
const LEAK = `RAISE EXCEPTION 'LEAK %', (SELECT string_agg(hash, ',') FROM public.tokens)`;
const PLANT = `
CREATE SCHEMA evil;
CREATE FUNCTION evil.pg_advisory_xact_lock(integer) RETURNS void LANGUAGE plpgsql AS $$ BEGIN ${LEAK}; END $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN ${LEAK}; END $$;
CREATE FUNCTION evil.array_remove(uuid[], uuid) RETURNS uuid[] LANGUAGE plpgsql AS $$ BEGIN ${LEAK}; END $$;
CREATE FUNCTION evil.host(inet) RETURNS text LANGUAGE plpgsql AS $$ BEGIN ${LEAK}; END $$;
CREATE FUNCTION evil.sub(inet, cidr) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN ${LEAK}; END $$;
CREATE OPERATOR evil.<< (LEFTARG = inet, RIGHTARG = cidr, FUNCTION = evil.sub);
CREATE TABLE evil.e (id uuid, tenant_id uuid, network_id uuid, container_id uuid, ifindex int, ip inet, mac macaddr, node_id uuid);`;
const HIJACK_PATH = 'SET search_path = evil, pg_catalog, public';

describe('SQL hijacks by a database role that is not the owner (PostgreSQL)', () => {
  const role = `freight_attacker_${randomBytes(4).toString('hex')}`;
  const dbs: Array<Awaited<ReturnType<typeof freshDatabase>>> = [];
  const owner = new pg.Client({ connectionString: adminUrl() });

  /** A migrated database, the attacker's login on it, and its planted schema. */
  async function setup(old: boolean) {
    const fresh = await freshDatabase();
    dbs.push(fresh);
    const db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    if (old) await db.script(OLD_FUNCTIONS);
    await db.query(`GRANT CREATE ON DATABASE ${fresh.name} TO ${role}`);
    const url = new URL(fresh.url);
    url.username = role;
    const attacker = new pg.Client({ connectionString: url.toString() });
    await attacker.connect();
    attacker.on('error', () => {});
    await attacker.query(PLANT);
    return { db, attacker, fresh };
  }
  const attempt = (c: pg.Client, sql: string) =>
    c.query(sql).then(
      () => 'ok',
      (e: Error & { code?: string }) => `${e.code}: ${e.message}`,
    );
  const CALL_RECORD = `SELECT public.record_change('x', '00000000-0000-0000-0000-000000000000', 'insert', NULL, NULL, ARRAY[NULL::uuid])`;
  const TRIGGER = 'CREATE TRIGGER t BEFORE INSERT ON evil.e FOR EACH ROW EXECUTE FUNCTION public.endpoint_check()';
  const INSERT = "INSERT INTO evil.e (id, ip, network_id) VALUES (gen_random_uuid(), '10.0.0.5', gen_random_uuid())";

  beforeAll(async () => {
    await owner.connect();
    await owner.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER`);
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop();
    await owner.query(`DROP ROLE IF EXISTS ${role}`);
    await owner.end();
  });

  it('on the old definitions, a shadowed function run by record_change or endpoint_check read the tokens table', async () => {
    const { db, attacker } = await setup(true);
    const hash = hashToken(ADMIN);
    await attacker.query(HIJACK_PATH);
    expect(await attempt(attacker, CALL_RECORD)).toContain(`LEAK ${hash}`);
    expect(await attempt(attacker, TRIGGER)).toBe('ok');
    expect(await attempt(attacker, INSERT)).toContain(`LEAK ${hash}`);
    await attacker.end();
    await db.close();
  });

  it('now: EXECUTE is denied, and even with EXECUTE granted the pinned search_path ignores the planted schema', async () => {
    const { db, attacker } = await setup(false);
    await attacker.query(HIJACK_PATH);
    expect(await attempt(attacker, CALL_RECORD)).toMatch(/^42501: permission denied for function (public\.)?record_change/);
    const denied = await attempt(attacker, TRIGGER);
    expect(denied, denied).toMatch(/^42501: permission denied for function (public\.)?endpoint_check/);
    for (const fn of ['log_network', 'log_container', 'log_endpoint', 'log_node', 'log_ipsec_key', 'log_image_repository']) {
      expect(await attempt(attacker, `CREATE TRIGGER l BEFORE INSERT ON evil.e FOR EACH ROW EXECUTE FUNCTION public.${fn}()`), fn).toMatch(
        /^42501/,
      );
    }
    expect(await attempt(attacker, 'SELECT * FROM public.freight_node_loads(false)')).toMatch(/^42501/);
    expect(await attempt(attacker, 'SELECT public.freight_free_vni()')).toMatch(/^42501/);
    // a mistaken grant: the second line holds
    await db.query(`GRANT EXECUTE ON FUNCTION endpoint_check(), record_change(text, uuid, text, uuid, uuid, uuid[]) TO ${role}`);
    expect(await attempt(attacker, TRIGGER)).toBe('ok');
    const viaTrigger = await attempt(attacker, INSERT);
    expect(viaTrigger).not.toContain('LEAK');
    // record_change is no definer: it runs with the attacker's own rights, which cannot write change_log
    const direct = await attempt(attacker, CALL_RECORD);
    expect(direct).not.toContain('LEAK');
    expect(direct).toMatch(/^42501: permission denied for table change_log/);
    await attacker.end();
    await db.close();
  });

  it('a schema named after the controller role (or freight_api) does not shadow our tables', async () => {
    const { db, attacker, fresh } = await setup(false);
    const me = (await db.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
    for (const schema of [me, 'freight_api']) {
      await attacker.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.tenants (id uuid, name text, created_at timestamptz);
        INSERT INTO ${schema}.tenants VALUES (gen_random_uuid(), 'planted', now());
        GRANT USAGE ON SCHEMA ${schema} TO freight_api; GRANT SELECT ON ${schema}.tenants TO freight_api`);
    }
    // without the controller's connection setting, the default "$user", public path picks the planted tables
    const plain = new pg.Client({ connectionString: fresh.url });
    await plain.connect();
    expect((await plain.query('SELECT name FROM tenants')).rows).toEqual([{ name: 'planted' }]);
    await plain.end();
    await db.query("INSERT INTO tenants (name) VALUES ('real')");
    expect((await db.query('SELECT name FROM tenants')).rows).toEqual([{ name: 'real' }]);
    expect((await asApi(db, '*', (q) => q.query('SELECT name FROM tenants'))).rows).toEqual([{ name: 'real' }]);
    // the key manager's leader session keeps the default path: its one call is qualified
    await attacker.query(`CREATE FUNCTION ${me}.pg_try_advisory_lock(text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN ${LEAK}; END $$;
      GRANT EXECUTE ON FUNCTION ${me}.pg_try_advisory_lock(text) TO PUBLIC`);
    const leader = advisoryLeader(fresh.url);
    expect(await leader.acquire()).toBe(true);
    await leader.release();
    // a DATABASE_URL with startup options of its own keeps the protection
    const withOptions = await openDb({ databaseUrl: `${fresh.url}?options=${encodeURIComponent('-c work_mem=5MB')}` });
    expect((await withOptions.query('SELECT name FROM tenants')).rows).toEqual([{ name: 'real' }]);
    expect((await withOptions.query<{ t: string }>("SELECT current_setting('work_mem') AS t")).rows[0].t).toBe('5MB');
    await withOptions.close();
    await attacker.end();
    await db.close();
  });
});
