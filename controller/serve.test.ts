import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import https from 'node:https';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { freshDatabase } from '../test/support/pg.js';
import { findLoose } from './secrets/files.js';
import { parseListen, serve, type ServeOptions } from './serve.js';

describe('parseListen', () => {
  it('reads HOST:PORT, [v6]:PORT and :PORT, and rejects the rest', () => {
    expect(parseListen('127.0.0.1:7400')).toEqual({ host: '127.0.0.1', port: 7400 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseListen(':9000')).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(() => parseListen('7400')).toThrow(/HOST:PORT/);
    expect(() => parseListen('a:99999')).toThrow(/HOST:PORT/);
  });
});

/** A logger whose every line is kept, to prove secrets never reach it. */
function capturingLog() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
  return { log, text: () => lines.join('') };
}

function get(url: string, token: string | undefined, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = (u.protocol === 'https:' ? https : http).get(u, { headers, ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
  });
}

const mode = (p: string) => statSync(p).mode & 0o777;
const busyPort = (): Promise<{ port: number; close(): void }> =>
  new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () =>
      resolve({ port: (srv.address() as { port: number }).port, close: () => srv.close() }),
    );
  });

describe('serve: TLS by default, bootstrap token file', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let dir: string;
  beforeAll(async () => {
    fresh = await freshDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'freight-serve-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await fresh?.drop();
  });

  it('creates its CA and serving certificate (0600), writes the admin token to a 0600 file and never prints or logs it', async () => {
    const stateDir = path.join(dir, 'state');
    const printed: string[] = [];
    const cap = capturingLog();
    const first = await serve({ databaseUrl: fresh.url, stateDir, listen: '127.0.0.1:0', print: (l) => printed.push(l) }, cap.log);
    try {
      expect(first.address).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(first.tls?.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
      const file = path.join(stateDir, 'admin-token');
      const token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^frt_/);
      expect(mode(file)).toBe(0o600);
      expect(mode(stateDir)).toBe(0o700);
      for (const f of ['ca.key', 'server.key', 'ca.crt', 'server.crt']) expect(mode(path.join(stateDir, 'tls', f)), f).toBe(0o600);
      expect(mode(path.join(stateDir, 'master.key'))).toBe(0o600);
      expect(printed.join('\n')).toContain(file);
      expect(printed.join('\n')).toContain(first.tls!.fingerprint);
      expect(printed.join('\n')).not.toContain(token);
      expect(cap.text()).not.toContain(token);
      const ca = readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
      expect(await get(`${first.address}/v1/tenants`, token, ca)).toEqual({ status: 200, body: '{"items":[],"next":null}' });
      // without the CA the certificate is not trusted, and there is no plaintext on the port
      await expect(get(`${first.address}/v1/tenants`, token)).rejects.toThrow(/self.signed|certificate/i);
      expect(
        (await get(first.address.replace('https:', 'http:') + '/healthz', undefined).catch((e: Error) => ({ status: 0, body: e.message })))
          .status,
      ).not.toBe(200);
    } finally {
      await first.stop();
    }
  });

  it('never un-revokes the bootstrap token at restart, and keeps its CA', async () => {
    const stateDir = path.join(dir, 'state');
    const token = readFileSync(path.join(stateDir, 'admin-token'), 'utf8').trim();
    const fp = (await import('./tls/index.js')).fingerprint(readFileSync(path.join(stateDir, 'tls', 'ca.crt')));
    let s = await serve({ databaseUrl: fresh.url, stateDir, listen: '127.0.0.1:0', print: () => {} }, pino({ level: 'silent' }));
    const ca = readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
    try {
      expect(s.tls?.fingerprint).toBe(fp);
      const c = await import('pg');
      const pgc = new c.default.Client({ connectionString: fresh.url });
      await pgc.connect();
      await pgc.query(
        "INSERT INTO tokens (hash, kind) VALUES (encode(sha256('second-admin-token-for-the-test-xx'::bytea), 'hex'), 'admin')",
      );
      await pgc.query("UPDATE tokens SET revoked_at = now() WHERE hash = encode(sha256($1::bytea), 'hex')", [token]);
      await pgc.end();
      expect((await get(`${s.address}/v1/tenants`, token, ca)).status).toBe(401);
    } finally {
      await s.stop();
    }
    s = await serve({ databaseUrl: fresh.url, stateDir, listen: '127.0.0.1:0', print: () => {} }, pino({ level: 'silent' }));
    try {
      expect((await get(`${s.address}/v1/tenants`, token, ca)).status).toBe(401);
      expect(readFileSync(path.join(stateDir, 'admin-token'), 'utf8').trim()).toBe(token); // not regenerated either
    } finally {
      await s.stop();
    }
  });

  it('admin-token --rotate writes a new token to the file and revokes the previous one; a restart changes neither', async () => {
    const stateDir = path.join(dir, 'state');
    const file = path.join(stateDir, 'admin-token');
    const before = readFileSync(file, 'utf8').trim();
    const { openDb } = await import('./store/db.js');
    const { rotateAdminToken, adminTokenStatus } = await import('./bootstrap.js');
    const db = await openDb({ databaseUrl: fresh.url });
    try {
      expect(await adminTokenStatus(db, stateDir)).toEqual({ file, present: true, live: false }); // revoked above
      expect(await rotateAdminToken(db, stateDir)).toEqual({ file, revokedPrevious: true });
      expect(await adminTokenStatus(db, stateDir)).toEqual({ file, present: true, live: true });
    } finally {
      await db.close();
    }
    const after = readFileSync(file, 'utf8').trim();
    expect(after).not.toBe(before);
    expect(mode(file)).toBe(0o600);
    const s = await serve({ databaseUrl: fresh.url, stateDir, listen: '127.0.0.1:0', print: () => {} }, pino({ level: 'silent' }));
    try {
      const ca = readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
      expect((await get(`${s.address}/v1/tenants`, after, ca)).status).toBe(200);
      expect((await get(`${s.address}/v1/tenants`, before, ca)).status).toBe(401);
    } finally {
      await s.stop();
    }
    expect(readFileSync(file, 'utf8').trim()).toBe(after);
  });

  it('a revoked FREIGHT_ADMIN_TOKEN stays revoked when the controller restarts with it (no admin token left)', async () => {
    const db2 = await freshDatabase();
    const stateDir = path.join(dir, 'env');
    const adminToken = 'env-admin-token-0123456789abcdef0123';
    const opts: ServeOptions = { databaseUrl: db2.url, stateDir, listen: '127.0.0.1:0', adminToken, print: () => {} };
    try {
      let s = await serve(opts, pino({ level: 'silent' }));
      const ca = readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
      try {
        expect((await get(`${s.address}/v1/tenants`, adminToken, ca)).status).toBe(200);
        const c = await import('pg');
        const pgc = new c.default.Client({ connectionString: db2.url });
        await pgc.connect();
        await pgc.query("UPDATE tokens SET revoked_at = now() WHERE kind = 'admin'");
        await pgc.end();
      } finally {
        await s.stop();
      }
      const cap = capturingLog();
      s = await serve(opts, cap.log);
      try {
        expect((await get(`${s.address}/v1/tenants`, adminToken, ca)).status).toBe(401);
        expect(cap.text()).toContain('admin-token --rotate');
        expect(existsSync(path.join(stateDir, 'admin-token'))).toBe(false); // nothing regenerated
      } finally {
        await s.stop();
      }
    } finally {
      await db2.drop();
    }
  });

  it('refuses a FREIGHT_ADMIN_TOKEN shorter than 32 characters before creating anything', async () => {
    const stateDir = path.join(dir, 'short');
    await expect(
      serve({ databaseUrl: fresh.url, stateDir, listen: '127.0.0.1:0', adminToken: 'x', print: () => {} }, pino({ level: 'silent' })),
    ).rejects.toThrow(/FREIGHT_ADMIN_TOKEN has 1 characters, at least 32/);
    expect(existsSync(stateDir)).toBe(false);
  });

  it('keeps the token file when the first start fails after creating it (port in use), and installs that token next time', async () => {
    const db2 = await freshDatabase();
    const stateDir = path.join(dir, 'busy');
    const busy = await busyPort();
    try {
      const opts: ServeOptions = { databaseUrl: db2.url, stateDir, listen: `127.0.0.1:${busy.port}`, print: () => {} };
      await expect(serve(opts, pino({ level: 'silent' }))).rejects.toThrow(/EADDRINUSE/);
      const token = readFileSync(path.join(stateDir, 'admin-token'), 'utf8').trim();
      const s = await serve({ ...opts, listen: '127.0.0.1:0' }, pino({ level: 'silent' }));
      try {
        expect((await get(`${s.address}/v1/tenants`, token, readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8'))).status).toBe(200);
      } finally {
        await s.stop();
      }
    } finally {
      busy.close();
      await db2.drop();
    }
  });

  it('serves the operator certificate given with --tls-cert/--tls-key, plaintext only with --insecure', async () => {
    const certDir = path.join(dir, 'operator');
    execFileSync('mkdir', ['-m', '700', certDir]);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        path.join(certDir, 'key.pem'),
        '-out',
        path.join(certDir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    const base = { databaseUrl: fresh.url, stateDir: path.join(dir, 'state'), listen: '127.0.0.1:0', print: () => {} };
    const own = await serve(
      { ...base, tlsCert: path.join(certDir, 'cert.pem'), tlsKey: path.join(certDir, 'key.pem') },
      pino({ level: 'silent' }),
    );
    try {
      expect(own.tls?.fingerprint).toBe((await import('./tls/index.js')).fingerprint(readFileSync(path.join(certDir, 'cert.pem'))));
      expect((await get(`${own.address}/healthz`, undefined, readFileSync(path.join(certDir, 'cert.pem'), 'utf8'))).status).toBe(200);
    } finally {
      await own.stop();
    }
    const plain = await serve({ ...base, insecure: true }, pino({ level: 'silent' }));
    try {
      expect(plain.address).toMatch(/^http:/);
      expect(plain.tls).toBeUndefined();
    } finally {
      await plain.stop();
    }
    await expect(
      serve(
        { ...base, insecure: true, tlsCert: path.join(certDir, 'cert.pem'), tlsKey: path.join(certDir, 'key.pem') },
        pino({ level: 'silent' }),
      ),
    ).rejects.toThrow(/contradict/);
  });
});

describe('serve: the embedded database directory', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'freight-pglite-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the real binary: data directory 0700 and every file 0600, no token on stdout/stderr, refusal when a file is group/world accessible', async () => {
    const stateDir = path.join(dir, 'state');
    const start = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(
          process.execPath,
          ['--import', 'tsx', 'controller/main.ts', 'serve', '--state-dir', stateDir, '--listen', '127.0.0.1:0'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        const onData = (d: Buffer) => {
          out += d;
          if (out.includes('freight-controller serving')) p.kill('SIGTERM'); // clean stop: PGlite closes
        };
        p.stdout.on('data', onData);
        p.stderr.on('data', onData);
        const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
    const first = await start();
    expect(first.out).toContain('freight-controller serving');
    const token = readFileSync(path.join(stateDir, 'admin-token'), 'utf8').trim();
    expect(first.out).not.toContain(token);
    const db = path.join(stateDir, 'db');
    expect(mode(db)).toBe(0o700);
    expect(await findLoose(stateDir)).toEqual([]);
    const victim = path.join(db, 'postgresql.conf');
    chmodSync(victim, 0o666);
    const refused = await start();
    expect(refused.code).toBe(1);
    expect(refused.out).toContain(`embedded database directory ${db} is accessible by group or others: ${victim} has mode 0666`);
    expect(refused.out).toContain(`chmod -R go-rwx ${db}`);
    expect(refused.out).not.toContain('freight-controller serving');
  }, 120_000);

  it("in process too (no umask): PGlite's own 0666 files are clamped to 0600", async () => {
    const stateDir = path.join(dir, 'inproc');
    const s = await serve(
      { stateDir, dataDir: path.join(stateDir, 'db'), listen: '127.0.0.1:0', print: () => {} },
      pino({ level: 'silent' }),
    );
    await s.stop();
    expect(await findLoose(stateDir)).toEqual([]);
    expect(mode(path.join(stateDir, 'db', 'PG_VERSION'))).toBe(0o600);
  }, 60_000);
});
