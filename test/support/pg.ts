import pg from 'pg';
import { randomBytes } from 'node:crypto';

/** The machine's PostgreSQL: DATABASE_URL's server, else the local one with trust auth. */
export function adminUrl(): string {
  return process.env.FREIGHT_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/** Creates a fresh database for one test file; `drop()` removes it (and ends its sessions). */
export async function freshDatabase(prefix = 'freight_test'): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
