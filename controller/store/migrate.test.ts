import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../test/support/pg.js';
import { migrate, openDb, SCHEMA_PATH, type Db } from './db.js';

const CATALOG = `
  SELECT string_agg(x, E'\\n' ORDER BY x) AS dump FROM (
    SELECT 'rel ' || relname || ' ' || relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public'
    UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'trg ' || tgname || ' ' || tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'fn ' || proname || ' ' || md5(prosrc) || ' ' || prosecdef::text || ' ' || coalesce(array_to_string(proconfig, ','), '') || ' ' || coalesce(proacl::text, '') FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT 'pol ' || polname || ' ' || polrelid::regclass::text || ' ' || polcmd::text || ' ' || polpermissive::text || ' ' || coalesce(pg_get_expr(polqual, polrelid), '') || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), '') FROM pg_policy
    UNION ALL SELECT 'acl ' || relname || ' ' || relrowsecurity::text || ' ' || coalesce(relacl::text, '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public' AND relkind = 'r'
  ) s(x)`;

describe('freight-controller migrate', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  beforeAll(async () => {
    fresh = await freshDatabase();
    db = await openDb({ databaseUrl: fresh.url });
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('finds schema.sql at the repository root', () => {
    expect(existsSync(SCHEMA_PATH)).toBe(true);
  });

  it('applies schema.sql through the CLI, and a second run changes nothing', async () => {
    execFileSync('npx', ['tsx', 'controller/main.ts', 'migrate', '--database-url', fresh.url], { stdio: 'pipe' });
    const before = (await db.query<{ dump: string }>(CATALOG)).rows[0].dump;
    const versions = (await db.query('SELECT version, applied_at FROM schema_version')).rows;
    expect(versions).toHaveLength(1);
    await db.query("INSERT INTO tenants (name) VALUES ('kept')");
    expect(await migrate(db)).toBe(1);
    if (existsSync('dist/controller/main.js')) {
      // the built bin must find schema.sql from dist/ too
      execFileSync('node', ['dist/controller/main.js', 'migrate', '--database-url', fresh.url], { stdio: 'pipe' });
    }
    expect((await db.query<{ dump: string }>(CATALOG)).rows[0].dump).toBe(before);
    expect((await db.query('SELECT version, applied_at FROM schema_version')).rows).toEqual(versions);
    expect((await db.query('SELECT name FROM tenants')).rows).toEqual([{ name: 'kept' }]);
    expect(before).toMatch(/con networks_no_overlap EXCLUDE USING gist/);
    // row-level security survives a second migrate unchanged, and the API role never gets ipsec_keys
    expect(before).toMatch(/pol tenant_scope endpoints \* true freight_scope_visible\(tenant_id\)/);
    expect(before).toMatch(/acl networks true .*freight_api=arwd/);
    expect(before).not.toMatch(/acl ipsec_keys .*freight_api/);
    expect(before).not.toMatch(/acl (tokens|idempotency_keys) .*freight_api/);
    expect(before).toMatch(/fn endpoint_check \w+ true search_path=pg_catalog, pg_temp \{[^}]*\}/);
    expect(before).toMatch(/pol admin_delete tenants d false freight_scope_admin\(\)/);
  });

  it('on PGlite, creates a nested data directory and keeps data across a reopen and a second migrate', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'freight-pglite-'));
    try {
      const dataDir = path.join(dir, '.freight', 'db');
      const a = await openDb({ dataDir });
      expect(await migrate(a)).toBe(1);
      await a.query("INSERT INTO tenants (name) VALUES ('kept')");
      await a.close();
      const b = await openDb({ dataDir });
      expect(await migrate(b)).toBe(1);
      expect((await b.query('SELECT name FROM tenants')).rows).toEqual([{ name: 'kept' }]);
      expect((await b.query('SELECT version FROM schema_version')).rows).toEqual([{ version: 1 }]);
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
