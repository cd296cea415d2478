/**
 * The operator's surface of freightctl (issue 19): output formats, exit statuses, help and
 * completion, messages, set/unset, selectors. Each "stumble" of the issue is a case here, run
 * with the real freightctl (through tsx, as a user runs it) against a served controller.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get as httpsGet } from 'node:https';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';
import { buildCli } from './main.js';
import { ensureOwnTls, wantedSans, type ControllerTls } from '../tls/index.js';

const ADMIN = 'cli-surface-admin-token';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function freightctl(args: string[], env: Record<string, string | undefined>): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'controller/cli/main.ts', ...args],
      { env: { ...process.env, FREIGHT_URL: undefined, FREIGHT_TOKEN: undefined, FREIGHT_CA: undefined, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A GET with the controller's CA, for what freightctl never sends. */
function get(u: string, caFile: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    httpsGet(u, { ca: readFileSync(caFile), headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

describe('freightctl: the operator surface (the real binary against a served controller)', () => {
  let db: Db;
  let app: FastifyInstance;
  let url: string;
  let tls: ControllerTls;
  let dir: string;
  let env: Record<string, string>;
  const ctl = (...args: string[]) => freightctl(args, env);

  beforeAll(async () => {
    db = await openDb({});
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    dir = mkdtempSync(path.join(tmpdir(), 'freight-cli-surface-'));
    tls = await ensureOwnTls(dir, wantedSans('127.0.0.1', [], {}, 'localhost'));
    app = await buildApp({ db, log: pino({ level: 'silent' }), push: false, https: { cert: tls.cert, key: tls.key } });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    env = { FREIGHT_URL: url, FREIGHT_TOKEN: ADMIN, FREIGHT_CA: tls.caFile };
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('node-a', '198.18.0.1', true)");
    for (const args of [
      ['tenant', 'create', 'acme', '--label', 'team=web'],
      ['tenant', 'create', 'globex'],
      ['network', 'create', 'acme/blue', '--cidr', '10.0.0.0/24', '--label', 'tier=front', '--description', 'the front'],
      ['network', 'create', 'acme/sec', '--type', 'ipsec', '--cidr', '10.5.0.0/24', '--label', 'tier=db'],
    ]) {
      const r = await ctl(...args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
    }
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('-o json|yaml|name|wide, --columns and custom-columns print the same objects', async () => {
    const [json, yaml, name, wide, cols, custom] = await Promise.all([
      ctl('network', 'show', 'acme/blue', '-o', 'json'),
      ctl('network', 'show', 'acme/blue', '-o', 'yaml'),
      ctl('network', 'list', 'acme', '-o', 'name'),
      ctl('network', 'list', 'acme', '-o', 'wide'),
      ctl('network', 'list', 'acme', '--columns', 'name,cidr,infra-node'),
      ctl('network', 'list', 'acme', '-o', 'custom-columns=NET:.name,PORT:.params.port,INFRA:.infra.ip'),
    ]);
    expect(json.code).toBe(0);
    expect(parseYaml(yaml.stdout)).toEqual(JSON.parse(json.stdout));
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'blue', labels: { tier: 'front' }, description: 'the front' });
    expect(name.stdout).toBe('acme/blue\nacme/sec\n');
    expect(wide.stdout.split('\n')[0]).toMatch(/^TENANT\s+NAME\s+TYPE.*\s+DOMAIN\s+DHCP\s+LABELS\s+DESCRIPTION$/);
    expect(wide.stdout).toMatch(/acme\s+blue\s+vxlan.*freight\.internal\s+true\s+tier=front\s+the front\n/);
    expect(cols.stdout).toBe('NAME  CIDR         INFRA NODE\nblue  10.0.0.0/24  node-a\nsec   10.5.0.0/24  node-a\n');
    expect(custom.stdout).toBe('NET   PORT  INFRA\nblue  4789  10.0.0.254\nsec   -     10.5.0.254\n');
    // the default table has none of the wide columns
    expect((await ctl('network', 'list', 'acme')).stdout.split('\n')[0]).not.toMatch(/LABELS/);
    const bad = await ctl('network', 'list', '-o', 'xml');
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/option '-o, --output <format>' argument 'xml' is invalid/)]);
  });

  it('exit statuses: 3 not found, 4 conflict (the overlap names the other network), 2 usage, 5 unreachable; errors as JSON with -o json', async () => {
    const missing = await ctl('network', 'show', 'acme/nosuch', '-o', 'json');
    expect(missing.code).toBe(3);
    expect(missing.stdout).toBe('');
    expect(JSON.parse(missing.stderr)).toEqual({
      error: { code: 'network_not_found', message: 'get network acme/nosuch: network nosuch not found in tenant acme' },
    });
    const overlap = await ctl('network', 'create', 'acme/red', '--cidr', '10.0.0.128/25');
    expect(overlap.code).toBe(4);
    expect(overlap.stderr).toBe(
      'freightctl: overlap: create network acme/red: cidr 10.0.0.128/25 overlaps network blue (10.0.0.0/24) of tenant acme\n',
    );
    // a bad CIDR: the field once, with its path in the JSON error
    const invalid = await ctl('--json', 'network', 'create', 'acme/red', '--cidr', '10.0.0.0/33');
    expect(invalid.code).toBe(1);
    expect(JSON.parse(invalid.stderr).error).toMatchObject({ code: 'invalid', path: 'cidr' });
    const usage = await ctl('network', 'create', 'acme/red', '-o', 'json');
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr)).toEqual({ error: { code: 'usage', message: "required option '--cidr <cidr>' not specified" } });
    const down = await freightctl(['tenant', 'list', '--url', 'https://127.0.0.1:9', '--json'], { FREIGHT_TOKEN: ADMIN });
    expect(down.code).toBe(5);
    expect(JSON.parse(down.stderr).error.code).toBe('unreachable');
    // `endpoints` of a network that does not exist is a 404 like every other missing object, not an empty table
    const eps = await ctl('endpoints', 'acme/nosuch');
    expect([eps.code, eps.stdout, eps.stderr]).toEqual([
      3,
      '',
      'freightctl: network_not_found: list endpoints of acme: network nosuch not found in tenant acme\n',
    ]);
  });

  it('help: bare freightctl on stdout with exit 0, groups too; --version; examples, `--`, exit statuses; every command and option described', async () => {
    const bare = await ctl();
    expect([bare.code, bare.stderr]).toEqual([0, '']);
    expect(bare.stdout).toMatch(/^Usage: freightctl \[options\] \[command\]/);
    expect(bare.stdout).toContain('Exit statuses:');
    expect(bare.stdout).toContain("container run acme/a --network web --image busybox -- sh -c 'echo hi'");
    const group = await ctl('network');
    expect([group.code, group.stderr]).toEqual([0, '']);
    expect(group.stdout).toMatch(/^Usage: freightctl network \[options\] \[command\]/);
    expect(group.stdout).toMatch(/set \[options\] <tenant\/name>\s+change a network in place/);
    const unknown = await ctl('network', 'bogus');
    expect([unknown.code, unknown.stderr]).toEqual([
      2,
      'freightctl: usage: unknown command freightctl network bogus; one of: create, list, show, set, unset, rotate-keys, delete\n',
    ]);
    const version = await ctl('--version');
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect([version.code, version.stdout]).toEqual([0, `${pkg.version}\n`]);
    const run = await ctl('container', 'run', '--help');
    expect(run.stdout).toContain("The container's command and its arguments go after --");
    expect(run.stdout).toMatch(/Examples:\n {2}freightctl container run acme\/a --network web --image busybox -- sh -c/);
    // the tree itself: nothing without a description
    const undescribed: string[] = [];
    const walk = (c: Command, at: string) => {
      if (!c.description()) undescribed.push(at);
      for (const o of c.options) if (!o.description) undescribed.push(`${at} ${o.flags}`);
      for (const s of c.commands) walk(s, `${at} ${s.name()}`);
    };
    walk(
      buildCli(
        {},
        () => undefined,
        () => undefined,
      ),
      'freightctl',
    );
    expect(undescribed).toEqual([]);
  });

  it('completion bash|zsh|fish: bash completes commands and options from the tree', async () => {
    const bash = await ctl('completion', 'bash');
    expect(bash.code).toBe(0);
    const file = path.join(dir, 'freightctl.bash');
    writeFileSync(file, bash.stdout);
    const complete = (line: string) =>
      new Promise<string>((resolve, reject) => {
        const words = line.split(' ');
        const script = `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _freightctl; echo "\${COMPREPLY[*]}"`;
        execFile('bash', ['-c', script], (err, out) => (err ? reject(new Error(err.message)) : resolve(out.trim())));
      });
    expect(await complete('freightctl net')).toBe('network');
    expect(await complete('freightctl network s')).toBe('show set');
    expect(await complete('freightctl --json network set acme/blue --dhcp-')).toBe('--dhcp-route --dhcp-ntp --dhcp-dns --dhcp-search');
    expect(await complete('freightctl completion ')).toBe('');
    const zsh = await ctl('completion', 'zsh');
    expect(zsh.stdout).toMatch(/^#compdef freightctl\nautoload -U \+X bashcompinit && bashcompinit\n/);
    const fish = await ctl('completion', 'fish');
    expect(fish.stdout).toContain(
      "complete -c freightctl -n '__fish_use_subcommand' -a network -d 'tenant networks: create, list, show, change, delete'",
    );
    expect((await ctl('completion', 'tcsh')).code).toBe(2);
  });

  it("container run … busybox -- sh -c 'echo hi' keeps the command's options; without -- the message says where they go", async () => {
    const ok = await ctl('--json', 'container', 'run', 'acme/hi', '--network', 'blue', '--image', 'busybox', '--', 'sh', '-c', 'echo hi');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).command).toEqual(['sh', '-c', 'echo hi']);
    const bad = await ctl('container', 'run', 'acme/hi2', '--network', 'blue', '--image', 'busybox', 'sh', '-c', 'echo hi');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      "error: unknown option '-c'\n" +
        "freightctl: the container's command goes after --, e.g. container run acme/a --network web --image busybox -- sh -c 'echo hi'\n",
    );
  });

  it('messages name the option once, in plain words: --mtu 1400x, --tail abc (and the API: no zod text)', async () => {
    const mtu = await ctl('network', 'create', 'acme/x', '--cidr', '10.9.0.0/24', '--mtu', '1400x');
    expect([mtu.code, mtu.stderr]).toEqual([2, "error: option '--mtu <n>' argument '1400x' is invalid. expected a whole number\n"]);
    const tail = await ctl('container', 'logs', 'acme/hi', '--tail', 'abc');
    expect([tail.code, tail.stderr]).toEqual([2, "error: option '--tail <n>' argument 'abc' is invalid. expected a whole number\n"]);
    // the API's own answer to the same mistake, in words and not zod's
    const limit = await get(`${url}/v1/tenants/acme/networks?limit=abc`, tls.caFile);
    expect(limit).toEqual({
      status: 400,
      body: { code: 'invalid', message: 'list networks: limit: expected a number', path: 'limit' },
    });
    const big = await ctl('--json', 'container', 'logs', 'acme/hi', '--tail', '1000000');
    expect(JSON.parse(big.stderr).error).toEqual({
      code: 'invalid',
      message: 'container logs: tail: at most 100000',
      path: 'tail',
    });
    expect(big.stderr).not.toMatch(/Invalid input|Too big|expected number to be/);
  });

  it('--url: a missing scheme gets the URL to use, …/v1 works, a missing token says where tokens come from', async () => {
    const port = new URL(url).port;
    const noScheme = await freightctl(['tenant', 'list', '--url', `localhost:${port}`], { FREIGHT_TOKEN: ADMIN });
    expect([noScheme.code, noScheme.stderr]).toEqual([
      2,
      `freightctl: usage: --url localhost:${port}: no scheme; did you mean https://localhost:${port}? (the controller serves https, e.g. https://127.0.0.1:7400)\n`,
    ]);
    const v1 = await freightctl(['tenant', 'list', '-o', 'name', '--url', `${url}/v1/`], { FREIGHT_TOKEN: ADMIN, FREIGHT_CA: tls.caFile });
    expect([v1.code, v1.stdout]).toEqual([0, 'acme\nglobex\n']);
    const noToken = await freightctl(['tenant', 'list'], { FREIGHT_URL: url, FREIGHT_CA: tls.caFile });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^freightctl: unauthenticated: authenticate: missing or malformed bearer token: no token was given; /);
    expect(noToken.stderr).toContain('--token TOKEN or set FREIGHT_TOKEN');
    expect(noToken.stderr).toContain('STATE_DIR/admin-token');
    const wrong = await freightctl(['tenant', 'list', '--token', 'frt_nope'], { FREIGHT_URL: url, FREIGHT_CA: tls.caFile });
    expect(wrong.stderr).toContain('the controller refused the token');
  });

  it('MTU reads the same in network show and network list (auto until set); network set|unset change it in place', async () => {
    expect((await ctl('network', 'show', 'acme/sec')).stdout).toMatch(/^mtu\s+auto$/m);
    expect((await ctl('network', 'list', 'acme', '--columns', 'name,mtu')).stdout).toBe('NAME  MTU\nblue  auto\nsec   auto\n');
    const set = await ctl(
      'network',
      'set',
      'acme/sec',
      '--mtu',
      '1400',
      '--label',
      'tier=db2',
      '--dhcp-ntp',
      '10.5.0.5',
      '--dhcp-route',
      '192.168.0.0/16=10.5.0.1',
      '--dns-upstream',
      '192.0.2.53',
      '--rotate-hours',
      '6',
    );
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^network acme\/sec updated\n/);
    expect(set.stdout).toMatch(/^mtu\s+1400$/m);
    const shown = JSON.parse((await ctl('network', 'show', 'acme/sec', '--json')).stdout);
    expect(shown).toMatchObject({
      mtu: 1400,
      labels: { tier: 'db2' },
      dhcpOptions: { ntp: ['10.5.0.5'], routes: [{ destination: '192.168.0.0/16', gateway: '10.5.0.1' }] },
      dnsUpstreams: ['192.0.2.53'],
      params: { rotateHours: 6 },
    });
    const unset = await ctl('network', 'unset', 'acme/sec', '--mtu', '--label', 'tier', '--dhcp-ntp', '--dns-upstream');
    expect(unset.code).toBe(0);
    const after = JSON.parse((await ctl('network', 'show', 'acme/sec', '--json')).stdout);
    expect(after).toMatchObject({
      mtu: null,
      labels: {},
      dhcpOptions: { routes: [{ destination: '192.168.0.0/16' }] },
      dnsUpstreams: null,
    });
    expect(after.dhcpOptions.ntp).toBeUndefined();
    expect((await ctl('network', 'list', 'acme', '--columns', 'name,mtu')).stdout).toContain('sec   auto\n');
    const nothing = await ctl('network', 'set', 'acme/sec');
    expect([nothing.code, nothing.stderr]).toEqual([
      2,
      'freightctl: usage: network acme/sec: nothing to change; see --help for the settings\n',
    ]);
    const badRoute = await ctl('network', 'set', 'acme/sec', '--dhcp-route', '10.0.0.0/8=192.0.2.1');
    expect(badRoute.code).toBe(1);
    expect(badRoute.stderr).toMatch(
      /^freightctl: invalid: update network acme\/sec: route gateway 192\.0\.2\.1 is not a host address of 10\.5\.0\.0\/24 \(field dhcpOptions\.routes\.0\.gateway\)\n$/,
    );
  });

  it('tenant set|show|unset: description and labels', async () => {
    const set = await ctl('tenant', 'set', 'globex', '--description', 'the other one', '--label', 'team=ops');
    expect([set.code, set.stdout]).toEqual([0, expect.stringMatching(/^tenant globex updated\n[\s\S]*^labels\s+team=ops$/m)]);
    expect(parseYaml((await ctl('tenant', 'show', 'globex', '-o', 'yaml')).stdout)).toMatchObject({
      name: 'globex',
      description: 'the other one',
      labels: { team: 'ops' },
    });
    await ctl('tenant', 'unset', 'globex', '--description', '--label', 'team');
    expect(JSON.parse((await ctl('tenant', 'show', 'globex', '--json')).stdout)).toMatchObject({ description: null, labels: {} });
    const missing = await ctl('tenant', 'show', 'nosuch');
    expect([missing.code, missing.stderr]).toEqual([3, 'freightctl: tenant_not_found: get tenant: tenant nosuch not found\n']);
  });

  it('container set|unset: limits, restart policy, labels, description', async () => {
    const set = await ctl(
      '--json',
      'container',
      'set',
      'acme/hi',
      '--memory',
      '1G',
      '--cpus',
      '1.5',
      '--restart',
      'always',
      '--label',
      'tier=front',
    );
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ memory: 2 ** 30, cpus: 1.5, restart: 'always', labels: { tier: 'front' } });
    const unset = await ctl('--json', 'container', 'unset', 'acme/hi', '--memory', '--cpus', '--label', 'tier');
    expect(JSON.parse(unset.stdout)).toMatchObject({ memory: 512 * 2 ** 20, restart: 'always', labels: {} });
    expect(JSON.parse(unset.stdout).cpus ?? null).toBeNull();
    const immutable = await ctl('container', 'set', 'acme/hi', '--pids', '8');
    expect(immutable.code).toBe(1);
    expect(immutable.stderr).toBe('freightctl: invalid: update container: pids: at least 16\n');
  });

  it('-l selectors and --filter on list commands, served by validated query parameters (unknown → 400)', async () => {
    await ctl('container', 'run', 'acme/lab', '--network', 'sec', '--image', 'busybox', '--label', 'tier=db', '--', 'sleep', '1');
    const [byLabel, notLabel, has, byType, byNet, tenants] = await Promise.all([
      ctl('network', 'list', 'acme', '-l', 'tier=front', '-o', 'name'),
      ctl('network', 'list', 'acme', '-l', 'tier!=front', '-o', 'name'),
      ctl('container', 'list', 'acme', '-l', 'tier', '-o', 'name'),
      ctl('network', 'list', '--filter', 'type=ipsec', '-o', 'name'),
      ctl('container', 'list', 'acme', '--filter', 'network=blue', '-o', 'name'),
      ctl('tenant', 'list', '-l', 'team=web', '-o', 'name'),
    ]);
    expect(byLabel.stdout).toBe('acme/blue\n');
    expect(notLabel.stdout).toBe('acme/sec\n');
    expect(has.stdout).toBe('acme/lab\n');
    expect(byType.stdout).toBe('acme/sec\n');
    expect(byNet.stdout).toBe('acme/hi\n');
    expect(tenants.stdout).toBe('acme\n');
    const unknown = await ctl('network', 'list', 'acme', '--filter', 'color=red');
    expect([unknown.code, unknown.stderr]).toEqual([1, 'freightctl: unknown_parameter: list networks: unknown query parameter color\n']);
    const badSel = await ctl('network', 'list', 'acme', '-l', 'Tier Two=x');
    expect(badSel.code).toBe(1);
    expect(badSel.stderr).toMatch(/^freightctl: invalid: list networks: label: Tier Two=x: Tier Two is not a label key/);
    const badType = await ctl('--json', 'network', 'list', 'acme', '--filter', 'type=ovs');
    expect(JSON.parse(badType.stderr).error).toEqual({
      code: 'invalid',
      message: 'list networks: type: expected one of vxlan, geneve, ipsec, physical',
      path: 'type',
    });
  });

  it('names of the infra instances and their DNS name are refused: infra, infra-<net> (reserved_name)', async () => {
    for (const name of ['infra', 'infra-blue', 'infra-other']) {
      const r = await ctl('--json', 'container', 'run', `acme/${name}`, '--network', 'blue', '--image', 'busybox');
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stderr).error).toMatchObject({ code: 'reserved_name', path: 'name' });
    }
    // the infra instance itself stays the only one of its name in endpoints
    const eps = JSON.parse((await ctl('endpoints', 'acme/blue', '--json')).stdout) as Array<{ container: string }>;
    expect(eps.filter((e) => e.container.startsWith('infra')).map((e) => e.container)).toEqual(['infra-blue']);
  });
});
