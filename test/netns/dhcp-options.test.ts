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
 * A network's own DHCP options (`dhcpOptions`: classless routes 121, NTP 42, extra name servers 6,
 * search domains 119) as real clients receive them from the infra server: busybox udhcpc (which
 * installs the routes in its namespace) and ISC dhclient, each in its own namespace on a bridge
 * with the server's.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const tag = uniqueTag();
const ns = new Namespaces();
const names = { br: `fro-${tag}-br`, infra: `fro-${tag}-in`, udhcpc: `fro-${tag}-c1`, dhclient: `fro-${tag}-c2` };
const dir = mkdtempSync(path.join(tmpdir(), 'fr-dhcp-options-'));
const configFile = path.join(dir, 'infra.json');
const config: InfraConfig = sampleConfig({
  revision: 1,
  dhcpOptions: {
    routes: [
      { destination: '192.168.50.0/24', gateway: '10.77.0.5' },
      { destination: '172.16.0.0/12', gateway: '10.77.0.6' },
      { destination: '0.0.0.0/0', gateway: '10.77.0.1' },
    ],
    ntp: ['10.77.0.3', '192.0.2.123'],
    dns: ['10.77.0.8', '192.0.2.53'],
    search: ['corp.example', 'example.org'],
  },
});
let server: ChildProcess | null = null;
let serverOut = '';

function link(client: string, port: string, mac: string): void {
  sh('ip', ['-n', names.br, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
  sh('ip', ['-n', names.br, 'link', 'set', port, 'master', 'br0', 'up']);
  sh('ip', ['-n', client, 'link', 'set', 'eth0', 'address', mac, 'up']);
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!isRoot)("a network's DHCP options through real DHCP clients", () => {
  beforeAll(async () => {
    for (const n of Object.values(names)) ns.add(n);
    sh('ip', ['-n', names.br, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', names.br, 'link', 'set', 'br0', 'up']);
    link(names.infra, 'vin', config.server.mac);
    link(names.udhcpc, 'vc1', config.bindings[0].mac);
    link(names.dhclient, 'vc2', config.bindings[1].mac);
    sh('ip', ['-n', names.infra, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
    await writeConfigAtomic(configFile, config);
    server = spawn(
      'ip',
      ['netns', 'exec', names.infra, process.execPath, '--import', 'tsx', 'infra-container/main.ts', '--config', configFile],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
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

  it('busybox udhcpc: routes (121, installed in the kernel), NTP (42), name servers (6), search list (119)', () => {
    const out = path.join(dir, 'udhcpc.env');
    const script = path.join(dir, 'udhcpc.sh');
    // the routes as busybox's own default.script installs them: "dest/len gw" pairs of $staticroutes
    writeFileSync(
      script,
      '#!/bin/sh\ncase "$1" in bound|renew)\n  ip addr add "$ip/$mask" dev "$interface"\n' +
        '  set -- $staticroutes\n  while [ -n "$1" ] && [ -n "$2" ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done\n' +
        `  env > ${out}\n;; esac\nexit 0\n`,
    );
    chmodSync(script, 0o755);
    sh(
      'busybox',
      ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', script, '-O', 'staticroutes', '-O', 'ntpsrv', '-O', 'search'],
      { ns: names.udhcpc },
    );
    const env = readFileSync(out, 'utf8');
    expect(env).toMatch(/^ip=10\.77\.0\.10$/m);
    expect(env).toMatch(/^staticroutes=192\.168\.50\.0\/24 10\.77\.0\.5 172\.16\.0\.0\/12 10\.77\.0\.6 0\.0\.0\.0\/0 10\.77\.0\.1$/m);
    expect(env).toMatch(/^ntpsrv=10\.77\.0\.3 192\.0\.2\.123$/m);
    // the network's own name server and zone first, then the network's extra ones
    expect(env).toMatch(/^dns=10\.77\.0\.2 10\.77\.0\.8 192\.0\.2\.53$/m);
    expect(env).toMatch(/^search=net\.t1\.freight\.internal corp\.example example\.org$/m);
    const routes = sh('ip', ['-4', 'route', 'show'], { ns: names.udhcpc });
    expect(routes).toMatch(/^default via 10\.77\.0\.1 dev eth0/m);
    expect(routes).toMatch(/^172\.16\.0\.0\/12 via 10\.77\.0\.6 dev eth0/m);
    expect(routes).toMatch(/^192\.168\.50\.0\/24 via 10\.77\.0\.5 dev eth0/m);
  });

  it('ISC dhclient: the same options, decoded by another implementation', () => {
    const out = path.join(dir, 'dhclient.env');
    const script = path.join(dir, 'dhclient.sh');
    const conf = path.join(dir, 'dhclient.conf');
    writeFileSync(script, `#!/bin/sh\ncase "$reason" in BOUND|REBOOT|RENEW) env > ${out} ;; esac\nexit 0\n`);
    chmodSync(script, 0o755);
    writeFileSync(
      conf,
      'option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\ntimeout 15;\nretry 1;\n' +
        'request subnet-mask, routers, domain-name, domain-name-servers, domain-search, ntp-servers, rfc3442-classless-static-routes;\n',
    );
    sh(
      'dhclient',
      ['-1', '-4', '-cf', conf, '-sf', script, '-lf', path.join(dir, 'dhclient.leases'), '-pf', path.join(dir, 'dhclient.pid'), 'eth0'],
      { ns: names.dhclient },
    );
    const env = readFileSync(out, 'utf8');
    expect(env).toMatch(/^new_ip_address=10\.77\.0\.11$/m);
    // RFC 3442 wire form: prefix length, the significant destination octets, the router
    expect(env).toMatch(/^new_rfc3442_classless_static_routes='?24 192 168 50 10 77 0 5 12 172 16 10 77 0 6 0 10 77 0 1'?$/m);
    expect(env).toMatch(/^new_ntp_servers='?10\.77\.0\.3 192\.0\.2\.123'?$/m);
    expect(env).toMatch(/^new_domain_name_servers='?10\.77\.0\.2 10\.77\.0\.8 192\.0\.2\.53'?$/m);
    expect(env).toMatch(/^new_domain_search='?"?net\.t1\.freight\.internal\.?"? "?corp\.example\.?"? "?example\.org\.?"?'?$/m);
    spawnSync('kill', [readFileSync(path.join(dir, 'dhclient.pid'), 'utf8').trim()]);
  });

  it('a config without them: the next answer carries only the built-in options', async () => {
    await writeConfigAtomic(configFile, { ...config, revision: 2, dhcpOptions: {} });
    const out = path.join(dir, 'plain.env');
    const script = path.join(dir, 'plain.sh');
    writeFileSync(script, `#!/bin/sh\ncase "$1" in bound|renew) env > ${out} ;; esac\nexit 0\n`);
    chmodSync(script, 0o755);
    await waitFor(
      () => {
        rmSync(out, { force: true });
        spawnSync(
          'ip',
          [
            'netns',
            'exec',
            names.udhcpc,
            'busybox',
            'udhcpc',
            '-i',
            'eth0',
            '-n',
            '-q',
            '-f',
            '-t',
            '2',
            '-T',
            '1',
            '-s',
            script,
            '-O',
            'staticroutes',
            '-O',
            'ntpsrv',
          ],
          { encoding: 'utf8' },
        );
        try {
          return /^dns=10\.77\.0\.2$/m.test(readFileSync(out, 'utf8'));
        } catch {
          return false;
        }
      },
      10_000,
      'the options to go',
    );
    const env = readFileSync(out, 'utf8');
    expect(env).not.toMatch(/^staticroutes=/m);
    expect(env).not.toMatch(/^ntpsrv=/m);
    expect(env).toMatch(/^search=net\.t1\.freight\.internal$/m);
  });
});

if (!isRoot) describe("a network's DHCP options", () => it.skip(SKIP_REASON, () => {}));
