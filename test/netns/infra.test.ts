import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InfraConfig } from '../../protocol/infra-config.js';
import { writeConfigAtomic } from '../../infra-container/config.js';
import { sampleConfig } from '../support/infra-config.js';
import { isRoot, Namespaces, sh, SKIP_REASON, uniqueTag } from '../support/netns.js';

/**
 * The infra server in its own namespace, on a bridge (own namespace) shared
 * with client namespaces whose eth0 carries the bound MACs; real clients:
 * busybox udhcpc, ISC dhclient, dig, nslookup.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const tag = uniqueTag();
const ns = new Namespaces();
const names = { br: `fri-${tag}-br`, infra: `fri-${tag}-in`, web: `fri-${tag}-c1`, db: `fri-${tag}-c2`, stranger: `fri-${tag}-c3` };
const MACS = { web: '02:00:00:00:00:10', db: '02:00:00:00:00:11', stranger: '02:00:00:00:00:99' };
const dir = mkdtempSync(path.join(tmpdir(), 'fr-infra-'));
const configFile = path.join(dir, 'infra.json');
const config: InfraConfig = sampleConfig({ revision: 1 });
let server: ChildProcess | null = null;
let serverOut = '';

function link(client: string, port: string, mac: string): void {
  sh('ip', ['-n', names.br, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
  sh('ip', ['-n', names.br, 'link', 'set', port, 'master', 'br0', 'up']);
  sh('ip', ['-n', client, 'link', 'set', 'eth0', 'address', mac, 'up']);
}

function dig(from: string, ...args: string[]): string {
  return sh('dig', ['@10.77.0.2', '+time=1', '+tries=1', ...args], { ns: from, allowFail: true });
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

async function metrics(): Promise<Record<string, number>> {
  const before = serverOut.length;
  server?.kill('SIGUSR1');
  await waitFor(() => serverOut.slice(before).includes('"msg":"metrics"'), 5000, 'metrics line');
  const line = serverOut
    .slice(before)
    .split('\n')
    .find((l) => l.includes('"msg":"metrics"'));
  return JSON.parse(line as string).metrics;
}

describe.skipIf(!isRoot)('infra container DHCP + DNS in namespaces', () => {
  beforeAll(async () => {
    for (const n of Object.values(names)) ns.add(n);
    sh('ip', ['-n', names.br, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', names.br, 'link', 'set', 'br0', 'up']);
    link(names.infra, 'vin', config.server.mac);
    link(names.web, 'vc1', MACS.web);
    link(names.db, 'vc2', MACS.db);
    link(names.stranger, 'vc3', MACS.stranger);
    sh('ip', ['-n', names.infra, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
    await writeConfigAtomic(configFile, config);
    server = spawn(
      'ip',
      ['netns', 'exec', names.infra, process.execPath, '--import', 'tsx', 'infra-container/main.ts', '--config', configFile],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    server.stdout?.on('data', (d) => (serverOut += d));
    server.stderr?.on('data', (d) => (serverOut += d));
    await waitFor(() => serverOut.includes('freight-infra ready'), 20_000, 'server start');
  });

  afterAll(() => {
    server?.kill('SIGKILL');
    ns.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('busybox udhcpc gets exactly the bound address, the MTU and the search list', () => {
    const out = path.join(dir, 'udhcpc.env');
    const script = path.join(dir, 'udhcpc.sh');
    writeFileSync(
      script,
      `#!/bin/sh\ncase "$1" in bound|renew)\n  ip addr flush dev "$interface"\n  ip addr add "$ip/$mask" dev "$interface"\n  [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"\n  env > ${out}\n;; esac\nexit 0\n`,
    );
    chmodSync(script, 0o755);
    sh(
      'busybox',
      ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', script, '-O', 'search', '-O', 'mtu', '-O', 'domain'],
      { ns: names.web },
    );
    const env = readFileSync(out, 'utf8');
    expect(env).toMatch(/^ip=10\.77\.0\.10$/m);
    expect(env).toMatch(/^mtu=1450$/m);
    expect(env).toMatch(/^search=net\.t1\.freight\.internal$/m);
    expect(env).toMatch(/^dns=10\.77\.0\.2$/m);
    expect(env).toMatch(/^router=10\.77\.0\.1$/m);
    expect(env).toMatch(/^lease=3600$/m);
    const link = sh('ip', ['-o', 'addr', 'show', 'dev', 'eth0'], { ns: names.web });
    expect(link).toContain('10.77.0.10/24');
    expect(sh('ip', ['-o', 'link', 'show', 'dev', 'eth0'], { ns: names.web })).toContain('mtu 1450');
  });

  it('ISC dhclient gets exactly the bound address, the MTU and the search list', () => {
    const out = path.join(dir, 'dhclient.env');
    const script = path.join(dir, 'dhclient.sh');
    const conf = path.join(dir, 'dhclient.conf');
    writeFileSync(
      script,
      `#!/bin/sh\ncase "$reason" in BOUND|REBOOT|RENEW)\n  ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"\n  ip link set dev "$interface" mtu "$new_interface_mtu"\n  env > ${out}\n;; esac\nexit 0\n`,
    );
    chmodSync(script, 0o755);
    writeFileSync(
      conf,
      'timeout 15;\nretry 1;\nrequest subnet-mask, routers, domain-name, domain-name-servers, domain-search, host-name, interface-mtu;\n',
    );
    sh(
      'dhclient',
      ['-1', '-4', '-cf', conf, '-sf', script, '-lf', path.join(dir, 'dhclient.leases'), '-pf', path.join(dir, 'dhclient.pid'), 'eth0'],
      { ns: names.db },
    );
    const env = readFileSync(out, 'utf8');
    expect(env).toMatch(/^new_ip_address=10\.77\.0\.11$/m);
    expect(env).toMatch(/^new_interface_mtu=1450$/m);
    expect(env).toMatch(/^new_domain_search=.?net\.t1\.freight\.internal\.?.?$/m);
    expect(env).toMatch(/^new_domain_name_servers=10\.77\.0\.2$/m);
    expect(sh('ip', ['-o', 'link', 'show', 'dev', 'eth0'], { ns: names.db })).toContain('mtu 1450');
    const pid = readFileSync(path.join(dir, 'dhclient.pid'), 'utf8').trim();
    spawnSync('kill', [pid]);
  });

  it('gives nothing to an unknown MAC', async () => {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', names.stranger, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '2', '-T', '1', '-s', '/bin/true'],
      { encoding: 'utf8' },
    );
    expect(r.status).not.toBe(0);
    expect((await metrics()).dhcp_unknown_mac).toBeGreaterThan(0);
  });

  it('resolves names and reverse names with dig and nslookup from the clients', () => {
    expect(dig(names.web, '+short', 'db.net.t1.freight.internal').trim()).toBe('10.77.0.11');
    expect(dig(names.web, '+short', 'DB').trim()).toBe('10.77.0.11');
    expect(dig(names.db, '+short', '-x', '10.77.0.10').trim()).toBe('web.net.t1.freight.internal.');
    expect(dig(names.db, '+tcp', '+short', 'web.net.t1.freight.internal').trim()).toBe('10.77.0.10');
    expect(dig(names.db, 'nope.net.t1.freight.internal')).toContain('status: NXDOMAIN');
    expect(dig(names.db, 'AAAA', 'web.net.t1.freight.internal')).toMatch(/status: NOERROR.*\n.*ANSWER: 0/);
    expect(dig(names.db, 'example.com')).toContain('status: REFUSED');
    const fwd = sh('nslookup', ['web.net.t1.freight.internal', '10.77.0.2'], { ns: names.db });
    expect(fwd).toMatch(/Address: 10\.77\.0\.10/);
    const rev = sh('nslookup', ['10.77.0.11', '10.77.0.2'], { ns: names.web });
    expect(rev).toContain('name = db.net.t1.freight.internal');
  });

  it('a removed binding stops resolving and a new one resolves, each within 1 s of the write', async () => {
    await writeConfigAtomic(configFile, { ...config, revision: 2, bindings: config.bindings.filter((b) => b.name !== 'db') });
    const gone = await waitFor(() => dig(names.web, 'db.net.t1.freight.internal').includes('NXDOMAIN'), 1000, 'db to disappear');
    expect(gone).toBeLessThan(1000);
    await writeConfigAtomic(configFile, {
      ...config,
      revision: 3,
      bindings: [...config.bindings, { mac: '02:00:00:00:00:12', ip: '10.77.0.12', name: 'cache' }],
    });
    const added = await waitFor(() => dig(names.web, '+short', 'cache').trim() === '10.77.0.12', 1000, 'cache to appear');
    expect(added).toBeLessThan(1000);
    // an invalid file is rejected and the running zone kept
    writeFileSync(configFile, '{"revision": "broken"');
    await new Promise((r) => setTimeout(r, 300));
    expect(dig(names.web, '+short', 'cache').trim()).toBe('10.77.0.12');
    expect(serverOut).toContain('infra config rejected');
    await writeConfigAtomic(configFile, { ...config, revision: 4 });
  });

  it('survives 10,000 random and mutated DHCP and DNS packets and still answers', async () => {
    const before = await metrics();
    const r = spawnSync(
      'ip',
      ['netns', 'exec', names.web, process.execPath, '--import', 'tsx', 'test/netns/infra-fuzz.ts', '10.77.0.2', '10000', '20261130'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    await new Promise((res) => setTimeout(res, 300));
    expect(server?.exitCode).toBeNull();
    const after = await metrics();
    expect(after.dns_malformed).toBeGreaterThan(before.dns_malformed ?? 0);
    expect(after.dhcp_malformed).toBeGreaterThan(before.dhcp_malformed ?? 0);
    expect(after.dns_packets - (before.dns_packets ?? 0) + after.dhcp_packets - (before.dhcp_packets ?? 0)).toBeGreaterThan(9000);
    expect(dig(names.db, '+short', 'web.net.t1.freight.internal').trim()).toBe('10.77.0.10');
    const again = spawnSync(
      'ip',
      ['netns', 'exec', names.web, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', '/bin/true'],
      { encoding: 'utf8' },
    );
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr + again.stdout).toContain('10.77.0.10');
  });
});

if (!isRoot) describe('infra container DHCP + DNS in namespaces', () => it.skip(SKIP_REASON, () => undefined));
