import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDb, sqlState, type Db } from '../../controller/store/db.js';
import { addImageRepo, listImageRepos, removeImageRepo } from '../../controller/images/repos-store.js';
import { ImageRepoCreate } from '../../protocol/api.js';
import { freshDatabase } from '../support/pg.js';

const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBGV...\n-----END PGP PUBLIC KEY BLOCK-----\n';

describe('image repositories per tenant (PostgreSQL)', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;

  beforeAll(async () => {
    fresh = await freshDatabase('freight_images');
    db = await openDb({ databaseUrl: fresh.url, poolSize: 2 });
    await migrate(db);
    await migrate(db); // idempotent, like the rest of schema.sql (image_repositories included)
    await db.query(`INSERT INTO tenants (name) VALUES ('acme'), ('globex')`);
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('stores URL and key per tenant and lists only that tenant’s repositories', async () => {
    const body = ImageRepoCreate.parse({ name: 'main', url: 'http://127.0.0.1:8080/repo/', publicKey: KEY });
    const added = await addImageRepo(db, 'acme', body);
    expect(added).toMatchObject({ tenant: 'acme', name: 'main', url: 'http://127.0.0.1:8080/repo/', publicKey: KEY });
    await addImageRepo(db, 'globex', { ...body, name: 'other' });
    expect((await listImageRepos(db, 'acme')).map((r) => r.name)).toEqual(['main']);
    expect((await listImageRepos(db, 'globex')).map((r) => r.name)).toEqual(['other']);
  });

  it('refuses a duplicate name, an unknown tenant, a non-key and a non-http URL', async () => {
    const body = { name: 'main', url: 'http://127.0.0.1:8081/', publicKey: KEY };
    expect(sqlState(await addImageRepo(db, 'acme', body).catch((e: unknown) => e))).toBe('23505');
    await expect(addImageRepo(db, 'nobody', body)).rejects.toThrow(/no tenant nobody/);
    expect(ImageRepoCreate.safeParse({ ...body, publicKey: 'ssh-rsa AAAA' }).success).toBe(false);
    expect(ImageRepoCreate.safeParse({ ...body, url: 'file:///etc' }).success).toBe(false);
    await expect(
      db.query(
        `INSERT INTO image_repositories (tenant_id, name, url, public_key) SELECT id, 'x', 'ftp://a', $1 FROM tenants WHERE name = 'acme'`,
        [KEY],
      ),
    ).rejects.toThrow();
  });

  it('removes a repository, and a tenant’s deletion removes its repositories', async () => {
    expect(await removeImageRepo(db, 'acme', 'main')).toContain('BEGIN PGP PUBLIC KEY BLOCK');
    expect(await removeImageRepo(db, 'acme', 'main')).toBeNull();
    expect(await listImageRepos(db, 'acme')).toEqual([]);
    await db.query(`DELETE FROM tenants WHERE name = 'globex'`);
    expect((await db.query(`SELECT count(*)::int AS n FROM image_repositories`)).rows[0]).toEqual({ n: 0 });
  });
});
