/**
 * `freightctl container exec` end to end on PostgreSQL: the real controller, two real agents in
 * node namespaces, busybox containers under systemd-nspawn (user namespaces), the real freightctl
 * through the controller's exec WebSocket and the agent stream. Also the infra instance of a
 * network, seen through the API and freightctl.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DHCP_CMD, ROOT } from './cluster.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot, SKIP_REASON } from '../support/netns.js';

const CTL = path.join(ROOT, 'dist/controller/cli/main.js');

describe.skipIf(!isRoot)('container exec and infra instances, end to end (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let acmeToken: string;
  let globexToken: string;

  /** freightctl with `input` on its standard input (a pipe, not a terminal). */
  const ctl = (args: string[], token = c.adminToken, input?: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [CTL, '--url', c.apiUrl, '--ca', c.caFile, '--token', token, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d));
      p.stderr.on('data', (d: Buffer) => (stderr += d));
      if (input !== undefined) p.stdin.write(input);
      p.stdin.end();
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  const exec = (args: string[], token?: string, input?: string) => ctl(['container', 'exec', ...args], token, input);

  beforeAll(async () => {
    db = await freshDatabase('freight_exec');
    // the default heartbeat: an exec ends when its node's stream reconnects, and a short one reconnects on a loaded machine
    c = await Cluster.start({ nodes: 2, databaseUrl: db.url });
    for (const t of ['acme', 'globex']) {
      expect((await c.api('POST', '/v1/tenants', { name: t })).status).toBe(201);
      expect((await c.api('POST', `/v1/tenants/${t}/networks`, { name: 'net', type: 'vxlan', cidr: '10.0.0.0/24' })).status).toBe(201);
    }
    acmeToken = (await c.api('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).body.token;
    globexToken = (await c.api('POST', '/v1/tokens', { kind: 'tenant', tenant: 'globex' })).body.token;
    const r = await c.api('POST', '/v1/tenants/acme/containers', {
      name: 'a',
      image: 'busybox',
      networks: ['net'],
      node: 'node1',
      command: DHCP_CMD,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await c.waitFor(
      async () => (await c.api('GET', '/v1/tenants/acme/containers/a')).body.observedState === 'running',
      120_000,
      'a running',
    );
  }, 240_000);

  afterAll(async () => {
    c?.stop();
    await db?.drop();
  }, 60_000);

  it("exec runs the argv in the container and streams its output: cat /etc/hostname, the container's hostname", async () => {
    const r = await exec(['acme/a', '--', 'cat', '/etc/hostname']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('busybox\n'); // the image's file
    const h = await exec(['acme/a', '--', 'hostname'], acmeToken);
    expect([h.status, h.stdout]).toEqual([0, 'a\n']);
  });

  it('propagates the exit code and keeps stdout and stderr apart', async () => {
    expect((await exec(['acme/a', '--', 'false'])).status).toBe(1);
    const r = await exec(['acme/a', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect([r.status, r.stdout, r.stderr]).toEqual([7, 'out\n', 'err\n']);
    const missing = await exec(['acme/a', '--', 'no-such-command']);
    expect(missing.status).toBe(127);
  });

  it("runs as the container's root inside its user namespace, never the node's root, in its namespaces", async () => {
    const id = await exec(['acme/a', '--', 'id', '-u']);
    expect(id.stdout).toBe('0\n');
    const map = await exec(['acme/a', '--', 'cat', '/proc/self/uid_map']);
    const [inside, outside, count] = map.stdout.trim().split(/\s+/).map(Number);
    expect(inside).toBe(0);
    expect(outside).toBeGreaterThan(0); // uid 0 inside is an unprivileged uid on the node
    expect(count).toBe(65536);
    // the container's network namespace: its own eth0 with the address IPAM gave it
    const ip = (await c.api('GET', '/v1/tenants/acme/containers/a')).body.endpoints[0].ip;
    await c.waitFor(async () => (await exec(['acme/a', '--', 'ip', '-4', 'addr', 'show', 'eth0'])).stdout.includes(ip), 60_000, 'address');
    // PID namespace: its own PID 1
    expect((await exec(['acme/a', '--', 'cat', '/proc/1/cmdline'])).stdout).not.toContain('node');
  });

  it('the command is data: shell syntax in an argument is never interpreted', async () => {
    const r = await exec(['acme/a', '--', 'echo', '$(id)', ';', '`reboot`', '&&', '--help']);
    expect([r.status, r.stdout]).toEqual([0, '$(id) ; `reboot` && --help\n']);
  });

  it('-i passes standard input; -t gives a pty of the container (tty prints /dev/pts/N)', async () => {
    const cat = await exec(['acme/a', '-i', '--', 'sh', '-c', 'tr a-z A-Z; exit 4'], undefined, 'hello\n');
    expect([cat.status, cat.stdout]).toEqual([4, 'HELLO\n']);
    const t = await exec(['acme/a', '-t', '--', 'tty']);
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/^\/dev\/pts\/\d+\r?\n$/);
    const it2 = await exec(['acme/a', '-it', '--', 'sh'], undefined, 'tty; echo sized $(stty size); exit 3\n');
    expect(it2.status).toBe(3);
    expect(it2.stdout).toMatch(/\/dev\/pts\/\d+/);
    // without a terminal on our side there is no size to pass: the pty gets 24x80
    expect(it2.stdout).toContain('sized 24 80');
    const plain = await exec(['acme/a', '--', 'tty']);
    expect(plain.stdout).toBe('not a tty\n');
  });

  it("a tenant token reaches its own containers only: globex's token gets 404 on acme's", async () => {
    const r = await exec(['acme/a', '--', 'id'], globexToken);
    expect(r.status).toBe(3); // not found (freightctl's exit statuses)
    expect(r.stderr).toContain('tenant_not_found');
    expect(r.stdout).toBe('');
    const missing = await exec(['acme/nosuch', '--', 'id'], acmeToken);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain('container_not_found');
    // a tenant may not exec in its network's infra instance
    const infra = await exec(['acme/infra-net', '--', 'id'], acmeToken);
    expect(infra.stderr).toContain('forbidden');
  });

  it('is audited: who ran what where, and how it ended', async () => {
    await exec(['acme/a', '--', 'sh', '-c', 'exit 5'], acmeToken);
    await c.waitFor(
      async () => {
        const items: Array<{ action: string; object: string; code: string | null; actor: string }> = (
          await c.api('GET', '/v1/audit?limit=200')
        ).body.items;
        const start = items.find((e) => e.action === 'exec container' && e.object.includes('"exit 5"'));
        const end = items.find((e) => e.action === 'exec exit' && e.code === 'exit 5');
        return Boolean(start && start.actor.startsWith('tenant:') && start.object.startsWith('container acme/a') && end);
      },
      10_000,
      'audit rows of the exec',
    );
  });

  it('refuses a malformed start on the WebSocket without harm, and the controller keeps serving', async () => {
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${c.apiUrl.replace(/^https/, 'wss')}/v1/tenants/acme/containers/a/exec`, {
      headers: { authorization: `Bearer ${acmeToken}` },
      ca: c.caPem,
    });
    const answer = await new Promise<string>((resolve) => {
      ws.on('open', () => ws.send(JSON.stringify({ type: 'start', argv: 'rm -rf /' })));
      ws.on('message', (d) => resolve(String(d)));
      ws.on('error', (e) => resolve(String(e)));
    });
    expect(JSON.parse(answer)).toMatchObject({ type: 'error', code: 'invalid' });
    ws.terminate();
    expect((await exec(['acme/a', '--', 'true'])).status).toBe(0);
  });

  it("a network's infra instance is visible: show and logs through the API and freightctl", async () => {
    const show = await c.api('GET', '/v1/tenants/acme/containers/infra-net');
    expect(show.status, JSON.stringify(show.body)).toBe(200);
    expect(show.body).toMatchObject({ name: 'infra-net', kind: 'infra', observedState: 'running' });
    expect(show.body.node).toMatch(/^node[01]$/);
    expect(typeof show.body.restarts).toBe('number');
    const shown = await ctl(['container', 'show', 'acme/infra-net'], acmeToken);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('infra-net');
    const logs = await ctl(['container', 'logs', 'acme/infra-net'], acmeToken);
    expect(logs.status, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('freight: start');
  });

  it('exec output is limited in rate, and a flood ends with the exit all the same', async () => {
    // 4 MiB at the node's 1 MiB/s: at least ~3 s, and all of it arrives
    const r = await exec(['acme/a', '--', 'sh', '-c', 'head -c 4194304 /dev/zero | tr "\\0" x; exit 2']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout.length).toBe(4 * 1024 * 1024);
  }, 60_000);
});

if (!isRoot) describe('container exec end to end', () => it.skip(SKIP_REASON, () => {}));
