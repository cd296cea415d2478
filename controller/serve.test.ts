import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { freshDatabase } from '../test/support/pg.js';
import { parseListen, serve } from './serve.js';

describe('parseListen', () => {
  it('reads HOST:PORT, [v6]:PORT and :PORT, and rejects the rest', () => {
    expect(parseListen('127.0.0.1:7400')).toEqual({ host: '127.0.0.1', port: 7400 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseListen(':9000')).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(() => parseListen('7400')).toThrow(/HOST:PORT/);
    expect(() => parseListen('a:99999')).toThrow(/HOST:PORT/);
  });
});

describe('serve', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let dir: string;
  beforeAll(async () => {
    fresh = await freshDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'freight-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'pipe' });
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await fresh?.drop();
  });

  it('prints a generated admin token once, serves TLS when given a certificate, and stops cleanly', async () => {
    const printed: string[] = [];
    const opts = { databaseUrl: fresh.url, listen: '127.0.0.1:0', print: (l: string) => printed.push(l), tlsCert: path.join(dir, 'cert.pem'), tlsKey: path.join(dir, 'key.pem') };
    const first = await serve(opts, pino({ level: 'silent' }));
    expect(first.address).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(printed).toHaveLength(1);
    const token = /admin token \(shown once\): (frt_\S+)/.exec(printed[0])![1];
    const get = (url: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        https.get(url, { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        }).on('error', reject);
      });
    expect(await get(`${first.address}/v1/tenants`)).toEqual({ status: 200, body: '{"items":[],"next":null}' });
    await first.stop();
    const second = await serve({ ...opts, tlsCert: undefined, tlsKey: undefined }, pino({ level: 'silent' }));
    expect(second.address).toMatch(/^http:/);
    expect(printed).toHaveLength(1); // not again: an admin token exists
    await second.stop();
  });
});
