import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';
import { ensureOwnTls, wantedSans, type ControllerTls } from '../tls/index.js';
import { run } from './main.js';
import { networkAttachments } from './containers.js';

/** freightctl's --ip/--mac and container attach|detach against a served controller (PGlite, TLS). */
const ADMIN = 'cli-attach-admin-token';

describe('networkAttachments (--network/--ip/--mac → the body)', () => {
  it('a bare --ip/--mac is for the first network, NET=VALUE for any; bare names stay names', () => {
    expect(networkAttachments(['web'], [], [])).toEqual(['web']);
    expect(networkAttachments(['web', 'db'], ['10.0.0.5', 'db=10.1.0.6'], ['db=02:00:00:00:00:09'])).toEqual([
      { network: 'web', ip: '10.0.0.5' },
      { network: 'db', ip: '10.1.0.6', mac: '02:00:00:00:00:09' },
    ]);
    expect(() => networkAttachments(['web'], ['dmz=10.0.0.5'], [])).toThrow(/--ip dmz=10\.0\.0\.5: dmz is not one of --network web/);
    expect(() => networkAttachments(['web'], ['10.0.0.5', 'web=10.0.0.6'], [])).toThrow(/given twice for network web/);
  });
});

describe('freightctl container run --ip/--mac, attach, detach', () => {
  let db: Db;
  let app: FastifyInstance;
  let url: string;
  let tls: ControllerTls;
  let stateDir: string;
  const ctl = async (args: string[]) => {
    let out = '';
    let err = '';
    const code = await run(
      args,
      { FREIGHT_URL: url, FREIGHT_TOKEN: ADMIN, FREIGHT_CA: tls.caFile },
      (s) => (out += s),
      (s) => (err += s),
    );
    return { code, out, err };
  };

  beforeAll(async () => {
    db = await openDb({});
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    stateDir = mkdtempSync(path.join(tmpdir(), 'freight-cli-attach-'));
    tls = await ensureOwnTls(stateDir, wantedSans('127.0.0.1', [], {}, 'localhost'));
    app = await buildApp({ db, log: pino({ level: 'silent' }), push: false, https: { cert: tls.cert, key: tls.key } });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('node-a', '198.18.0.1', true)");
    for (const args of [
      ['tenant', 'create', 'acme'],
      ['network', 'create', 'acme/web', '--type', 'vxlan', '--cidr', '10.0.0.0/24'],
      ['network', 'create', 'acme/db', '--type', 'vxlan', '--cidr', '10.1.0.0/24'],
    ])
      expect((await ctl(args)).code).toBe(0);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('runs with a chosen address and MAC, attaches a network with a chosen address, detaches it', async () => {
    const r = await ctl([
      'container',
      'run',
      'acme/a',
      '--network',
      'web',
      '--image',
      'busybox',
      '--ip',
      '10.0.0.50',
      '--mac',
      '02:aa:00:00:00:50',
    ]);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toContain('web=10.0.0.50');
    const shown = JSON.parse((await ctl(['--json', 'container', 'show', 'acme/a'])).out);
    expect(shown.endpoints).toEqual([{ network: 'web', ip: '10.0.0.50', mac: '02:aa:00:00:00:50' }]);

    const at = await ctl(['container', 'attach', 'acme/a', 'db', '--ip', '10.1.0.60']);
    expect([at.code, at.err]).toEqual([0, '']);
    expect(at.out).toMatch(/^container acme\/a attached to network db: 10\.1\.0\.60 02:/);
    const de = await ctl(['container', 'detach', 'acme/a', 'db']);
    expect([de.code, de.out]).toEqual([0, 'container acme/a detached from network db\n']);
  });

  it('says what is wrong: a taken address names its holder, a bad --ip target is a usage error', async () => {
    const taken = await ctl(['container', 'run', 'acme/b', '--network', 'web', '--image', 'busybox', '--ip', '10.0.0.50']);
    expect(taken.code).toBe(4); // a conflict
    expect(taken.err).toMatch(/address_in_use/);
    expect(taken.err).toMatch(/10\.0\.0\.50 of network web is in use by container a/);
    const usage = await ctl(['container', 'run', 'acme/b', '--network', 'web', '--image', 'busybox', '--ip', 'db=10.1.0.5']);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/db is not one of --network web/);
    const twice = await ctl(['container', 'attach', 'acme/a', 'web']);
    expect(twice.code).toBe(4);
    expect(twice.err).toMatch(/conflict.*already on network web/);
    const gone = await ctl(['container', 'detach', 'acme/a', 'db']);
    expect(gone.code).toBe(3); // not found
    expect(gone.err).toMatch(/not on network db/);
  });
});
