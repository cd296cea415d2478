import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import { request as httpsRequest, createServer as createHttpsServer } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';
import { run } from './main.js';
import { ensureOwnTls, wantedSans, type ControllerTls } from '../tls/index.js';
import { decodeJoin } from '../../protocol/join.js';

const ADMIN = 'cli-admin-token';

/** A loopback port nobody listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The real binary, through tsx, as a user runs it. */
function freightctl(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'controller/cli/main.ts', ...args],
      { env: { ...process.env, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('freightctl against a served controller', () => {
  let db: Db;
  let app: FastifyInstance;
  let url: string;
  let tls: ControllerTls;
  let stateDir: string;
  // in-process runs of the same entry point, for the many small steps (verifying the controller's CA)
  const ctl = async (args: string[], token = ADMIN, env: Record<string, string> = { FREIGHT_CA: tls.caFile }) => {
    let out = '';
    let err = '';
    const code = await run(
      args,
      { FREIGHT_URL: url, FREIGHT_TOKEN: token, ...env },
      (s) => (out += s),
      (s) => (err += s),
    );
    return { code, out, err };
  };

  beforeAll(async () => {
    db = await openDb({}); // PGlite: the default store, served over real HTTP
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    stateDir = mkdtempSync(path.join(tmpdir(), 'freight-cli-'));
    tls = await ensureOwnTls(stateDir, wantedSans('127.0.0.1', [], {}, 'localhost'));
    app = await buildApp({ db, log: pino({ level: 'silent' }), push: false, https: { cert: tls.cert, key: tls.key } });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('node-a', '198.18.0.1', true)");
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates objects and prints aligned tables (the real binary)', async () => {
    const env = { FREIGHT_URL: url, FREIGHT_TOKEN: ADMIN, FREIGHT_CA: tls.caFile };
    expect((await freightctl(['tenant', 'create', 'acme'], env)).code).toBe(0);
    const net = await freightctl(['network', 'create', 'acme/blue', '--type', 'vxlan', '--cidr', '10.0.0.0/24', '--mtu', '1400'], env);
    expect(net.stdout).toMatch(/network acme\/blue created: vni \d+, 10\.0\.0\.0\/24, infra 10\.0\.0\.254/);
    const runOut = await freightctl(['container', 'run', 'acme/web', '--network', 'blue', '--image', 'busybox', '--', 'sleep', '100'], env);
    expect([runOut.code, runOut.stdout]).toEqual([0, 'container acme/web created on node-a: blue=10.0.0.1\n']);
    const list = await freightctl(['container', 'list'], env);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TENANT\s+NAME\s+IMAGE\s+NODE\s+DESIRED\s+OBSERVED\s+RESTARTS\s+ADDRESSES$/);
    expect(lines[1]).toMatch(/^acme\s+web\s+busybox\s+node-a\s+running\s+pending\s+0\s+blue=10\.0\.0\.1$/);
    expect(lines[1].indexOf('busybox')).toBe(lines[0].indexOf('IMAGE')); // aligned columns
  });

  it('prints JSON for scripts and shows what was created', async () => {
    const show = await ctl(['--json', 'container', 'show', 'acme/web']);
    expect(JSON.parse(show.out)).toMatchObject({
      name: 'web',
      command: ['sleep', '100'],
      endpoints: [{ network: 'blue', ip: '10.0.0.1' }],
      memory: 512 * 2 ** 20,
      pids: 1024,
    });
    const limited = await ctl([
      '--json',
      'container',
      'run',
      'acme/small',
      '--network',
      'blue',
      '--image',
      'busybox',
      '--memory',
      '64M',
      '--cpus',
      '0.25',
      '--pids',
      '64',
      '--',
      'sleep',
      '1',
    ]);
    expect(JSON.parse(limited.out)).toMatchObject({ memory: 64 * 2 ** 20, cpus: 0.25, pids: 64 });
    expect((await ctl(['container', 'show', 'acme/small'])).out).toMatch(/^memory\s+67108864\ncpus\s+0\.25\npids\s+64$/m);
    await ctl(['container', 'delete', 'acme/small']);
    const eps = JSON.parse((await ctl(['endpoints', 'acme/blue', '--json'])).out);
    expect(eps.map((e: { ip: string; kind: string }) => [e.ip, e.kind])).toEqual([
      ['10.0.0.1', 'container'],
      ['10.0.0.254', 'infra'],
    ]);
    const table = (await ctl(['endpoints', 'acme'])).out;
    expect(table).toMatch(/blue\s+10\.0\.0\.254\s+02(:[0-9a-f]{2}){3}:00:fe\s+infra-blue\s+infra\s+node-a\s+198\.18\.0\.1/);
    expect((await ctl(['container', 'stop', 'acme/web'])).out).toBe('container acme/web: desired state stopped\n');
    expect(JSON.parse((await ctl(['--json', 'status'])).out).nodes[0]).toMatchObject({ name: 'node-a', ready: true });
    expect((await ctl(['node', 'list'])).out).toMatch(/^NAME\s+UNDERLAY\s+READY/);
    expect((await ctl(['network', 'list', 'acme'])).out).toMatch(/acme\s+blue\s+vxlan\s+\d+\s+10\.0\.0\.0\/24\s+-\s+1400\s+10\.0\.0\.254/);
  });

  it('issues tenant tokens that see only their tenant', async () => {
    await ctl(['tenant', 'create', 'other']);
    const token = (await ctl(['token', 'create', '--tenant', 'other'])).out.trim();
    expect(token).toMatch(/^frt_/);
    const denied = await ctl(['container', 'show', 'acme/web'], token);
    expect([denied.code, denied.err]).toEqual([3, 'freightctl: tenant_not_found: get container acme/web: tenant acme not found\n']);
    expect((await ctl(['--json', 'tenant', 'list'], token)).out).toMatch(/"name": "other"/);
    const id = JSON.parse((await ctl(['--json', 'token', 'list'])).out).find((t: { kind: string }) => t.kind === 'tenant').id;
    expect((await ctl(['token', 'revoke', id])).code).toBe(0);
    expect((await ctl(['tenant', 'list'], token)).code).toBe(1); // 401: the token was revoked
    expect((await ctl(['token', 'create', '--admin', '--node', 'x'])).code).toBe(2);
  });

  it('shows node capabilities with the reason of what is unsupported, the audit log, and asks for key rotation', async () => {
    const caps = {
      vxlan: true,
      geneve: false,
      esp: false,
      aead: false,
      nft: true,
      nspawn: true,
      details: { esp: 'kernel has no esp4 (modprobe esp4: not found)', geneve: 'EOPNOTSUPP' },
    };
    await db.query("UPDATE nodes SET capabilities = $1::jsonb WHERE name = 'node-a'", [JSON.stringify(caps)]);
    const show = (await ctl(['node', 'show', 'node-a'])).out;
    expect(show).toMatch(/^name\s+node-a$/m);
    expect(show).toContain('  esp: unsupported (kernel has no esp4 (modprobe esp4: not found))\n');
    expect(show).toContain('  vxlan: supported\n');
    expect(show).toContain('  geneve: unsupported (EOPNOTSUPP)\n');
    await ctl(['network', 'create', 'acme/sec', '--type', 'ipsec', '--cidr', '10.5.0.0/24']);
    const rot = await ctl(['network', 'rotate-keys', 'acme/sec']);
    expect([rot.code, rot.out]).toEqual([0, expect.stringMatching(/^network acme\/sec: key rotation requested at \d{4}-/)]);
    expect((await ctl(['network', 'rotate-keys', 'acme/blue'])).err).toMatch(/invalid: .*only ipsec networks have keys/);
    const audit = (await ctl(['audit', '--limit', '2'])).out.trimEnd().split('\n');
    expect(audit).toHaveLength(3);
    // source address, action, object, outcome and error code of each call (issue 14)
    expect(audit[0]).toMatch(/^TIME\s+SOURCE\s+ACTOR\s+ACTION\s+OBJECT\s+OUTCOME\s+CODE\s+COUNT\s+TENANT\s+METHOD\s+PATH\s+STATUS$/);
    expect(audit[1]).toMatch(
      /127\.0\.0\.1\s+admin:[0-9a-f-]{36}\s+rotate keys\s+network acme\/blue\s+failure\s+invalid\s+1\s+acme\s+POST\s+\/v1\/tenants\/acme\/networks\/blue\/rotate-keys\s+400$/,
    );
    expect(audit[2]).toMatch(/network acme\/sec\s+success\s+-\s+1\s+acme\s+POST\s+\/v1\/tenants\/acme\/networks\/sec\/rotate-keys\s+202$/);
    expect((await ctl(['audit', '--limit', '0'])).code).toBe(2);
  });

  it('sends an Idempotency-Key per request and retries a create whose answer was lost with the same key (the real binary)', async () => {
    // a proxy that forwards every request to the controller but cuts the connection instead of
    // answering the first POST: the create happened, the client never heard of it
    const seen: IncomingHttpHeaders[] = [];
    let dropped = false;
    const upstream = (method: string, path: string, headers: Record<string, string>, body?: Buffer) =>
      new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
        const r = httpsRequest(`${url}${path}`, { method, headers, ca: readFileSync(tls.caFile) }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? 'application/json'), text }),
          );
        });
        r.on('error', reject);
        r.end(body);
      });
    const proxy = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        seen.push(req.headers);
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection'].includes(k))) as Record<
          string,
          string
        >;
        const up = await upstream(req.method ?? 'GET', req.url ?? '/', headers, chunks.length ? Buffer.concat(chunks) : undefined);
        if (req.method === 'POST' && !dropped) {
          dropped = true;
          req.socket.destroy();
          return;
        }
        res.writeHead(up.status, { 'content-type': up.type }).end(up.text);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    try {
      const via = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      const r = await freightctl(['network', 'create', 'acme/retried', '--cidr', '10.6.0.0/24'], {
        FREIGHT_URL: via,
        FREIGHT_TOKEN: ADMIN,
        FREIGHT_CA: tls.caFile,
      });
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toMatch(/^network acme\/retried created: vni \d+/);
      const posts = seen.filter((h) => h['idempotency-key']);
      expect(posts).toHaveLength(2);
      expect(posts[0]['idempotency-key']).toBe(posts[1]['idempotency-key']);
      expect(String(posts[0]['idempotency-key'])).toMatch(/^[0-9a-f-]{36}\.1$/);
      expect((await db.query("SELECT 1 FROM networks WHERE name = 'retried'")).rows).toHaveLength(1);
      // another invocation: another key
      await freightctl(['tenant', 'create', 'retried-t'], { FREIGHT_URL: via, FREIGHT_TOKEN: ADMIN, FREIGHT_CA: tls.caFile });
      expect(seen.at(-1)?.['idempotency-key']).not.toBe(posts[0]['idempotency-key']);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('exits non-zero with the API code and message, and says when the controller is unreachable (the real binary)', async () => {
    const bad = await freightctl(['network', 'create', 'acme/red', '--cidr', '10.0.0.0/33'], {
      FREIGHT_URL: url,
      FREIGHT_TOKEN: ADMIN,
      FREIGHT_CA: tls.caFile,
    });
    expect(bad.code).toBe(1);
    // the field is named once, by the API's message
    expect(bad.stderr).toMatch(/^freightctl: invalid: create network: cidr: an IPv4 network in CIDR form[^\n]*\n$/);
    expect(bad.stderr.match(/cidr/g)).toHaveLength(1);
    const conflict = await ctl(['network', 'delete', 'acme/blue']);
    expect([conflict.code, conflict.err]).toEqual([4, 'freightctl: in_use: delete network acme/blue: 1 containers still attached (web)\n']);
    const closed = await closedPort();
    const down = await freightctl(['tenant', 'list', '--url', `https://127.0.0.1:${closed}`], { FREIGHT_TOKEN: ADMIN });
    expect(down.code).toBe(5);
    expect(down.stderr).toBe(`freightctl: unreachable: cannot reach the controller at https://127.0.0.1:${closed}: ECONNREFUSED\n`);
    expect((await ctl(['network', 'show', 'no-slash'])).code).toBe(2);
    const help = await ctl(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--token <token>/);
    expect(help.out).not.toContain(ADMIN); // the token from the environment is never printed
  });

  it('verifies the controller: CA file or pin; a wrong pin, no CA, or plaintext without --insecure are refused (the real binary)', async () => {
    const base = { FREIGHT_URL: url, FREIGHT_TOKEN: ADMIN };
    expect((await freightctl(['tenant', 'list', '--ca-fingerprint', tls.fingerprint], base)).code).toBe(0);
    const wrong = await freightctl(['tenant', 'list', '--ca-fingerprint', `sha256:${'0'.repeat(64)}`], base);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain(
      `freightctl: ca_pin_mismatch: controller 127.0.0.1:${new URL(url).port} is not the one the join string names: no certificate it presented matches the pinned CA sha256:${'0'.repeat(64)} (presented `,
    );
    expect(wrong.stderr).toContain(tls.fingerprint);
    const none = await freightctl(['tenant', 'list'], base);
    expect(none.code).toBe(5);
    expect(none.stderr).toMatch(
      /^freightctl: tls_unverified: the controller at https:\/\/127\.0\.0\.1:\d+ presented a certificate that is not trusted \(SELF_SIGNED_CERT_IN_CHAIN\): give --ca FILE/,
    );
    const plain = await ctl(['tenant', 'list', '--url', url.replace('https:', 'http:')]);
    expect([plain.code, plain.err]).toEqual([
      2,
      `freightctl: plaintext_refused: ${url.replace('https:', 'http:')} is plaintext: the token would cross in clear. Use https:// (the controller's default), or --insecure\n`,
    ]);
    // --insecure permits http://, but a TLS port still answers no plaintext
    expect((await ctl(['tenant', 'list', '--url', url.replace('https:', 'http:'), '--insecure'])).code).not.toBe(0);
  });

  it('prints a join string for a node token: controller URL, the token, the CA pin this run verified', async () => {
    const r = await ctl(['token', 'create', '--node', 'node-b', '--controller-url', 'https://198.18.0.254:7400']);
    expect(r.code).toBe(0);
    const join = decodeJoin(r.out.trim());
    expect(join).toEqual({ url: 'https://198.18.0.254:7400', token: expect.stringMatching(/^frt_/), ca: tls.fingerprint });
    const pinned = await ctl(['--json', 'token', 'create', '--node', 'node-c'], ADMIN, { FREIGHT_CA_FINGERPRINT: tls.fingerprint });
    const body = JSON.parse(pinned.out);
    expect(decodeJoin(body.join)).toEqual({ url, token: body.token, ca: tls.fingerprint });
    expect(readFileSync(tls.caFile, 'utf8')).toContain('BEGIN CERTIFICATE');
  });
});
