/**
 * External networks and floating IPs end to end (issue 17): a "datacenter switch" segment `ext`
 * mapped on both nodes (test/netns/switch.ts) is the external network `provider/ext`, and a
 * namespace on it at 203.0.113.1 stands for the outside world. A router with that external
 * network source-NATs egress to its per-node address of the pool; a floating IP reaches a
 * container from outside, follows it to another node with a gratuitous ARP on the segment, and
 * is refused for a second container and for another tenant's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, reapContainers } from './cluster.js';
import { addSwitch, mappingArgs, type Segment, type Switch } from './switch.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot } from '../support/netns.js';

const OUTSIDE = '203.0.113.1';
const SEGMENTS: Segment[] = [{ name: 'ext', servers: [{ address: `${OUTSIDE}/24` }] }];
/** DHCP, then a web page and a TCP "who am I" echo (the peer address the container's traffic arrives with). */
const WEB = [
  'sh',
  '-c',
  'udhcpc -i eth0 -b -S -t 60 -T 1 -A 1 -s /usr/share/udhcpc/default.script; mkdir -p /tmp/www; ' +
    'echo floating-page > /tmp/www/index.html; exec httpd -f -p 80 -h /tmp/www',
];
const IDLE = ['sh', '-c', 'udhcpc -i eth0 -b -S -t 60 -T 1 -A 1 -s /usr/share/udhcpc/default.script; exec sleep 2147483647'];

interface Made {
  id: string;
  ip: string;
}

describe.skipIf(!isRoot)('external network and floating IPs (controller + 2 agents, a switch segment)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let sw: Switch;
  let dir: string;
  let whoami: ChildProcess | undefined;
  let fip = '';
  const m: Record<string, Made> = {};
  const captures: ChildProcess[] = [];

  const ok = async (method: string, url: string, body?: unknown, token?: string) => {
    const r = await c.api(method, url, body, token);
    expect(r.status, `${method} ${url}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  };
  const run = async (tenant: string, name: string, network: string, node: number, command: string[]): Promise<Made> => {
    const b = await ok('POST', `/v1/tenants/${tenant}/containers`, {
      name,
      image: 'busybox',
      networks: [network],
      node: `node${node}`,
      command,
    });
    return (m[`${tenant}/${name}`] = { id: b.id, ip: b.endpoints[0].ip });
  };
  const waitAddr = (x: Made) => c.waitFor(() => c.addressOf(x.id) === x.ip, 180_000, `${x.id} has ${x.ip}`);
  const outside = () => sw.servers[0][0];
  const fromOutside = (url: string) => c.h.exec(outside(), 'curl', ['-s', '-m', '3', url]).stdout;
  /** The address a container's connection to the outside arrives with (socat tells the peer its address). */
  const seenAs = (x: Made) => c.exec(x.id, 'socat', ['-T', '3', '-', `TCP:${OUTSIDE}:7000,connect-timeout=3`]).stdout.trim();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frt-fip-'));
    db = await freshDatabase('freight_fip');
    c = await Cluster.start({
      nodes: 2,
      databaseUrl: db.url,
      heartbeatMs: 500,
      beforeAgents: (h) => (sw = addSwitch(h, SEGMENTS)),
      agentArgs: () => mappingArgs(SEGMENTS),
    });
    whoami = spawn('ip', ['netns', 'exec', outside(), 'socat', 'TCP-LISTEN:7000,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR'], {
      stdio: 'ignore',
    });
    for (const t of ['provider', 'acme', 'globex']) await ok('POST', '/v1/tenants', { name: t });
    const ext = await c.ctl([
      'network',
      'create',
      'provider/ext',
      '--type',
      'physical',
      '--physical-network',
      'ext',
      '--cidr',
      '203.0.113.0/24',
      '--gateway',
      OUTSIDE,
      '--pool',
      '203.0.113.100-203.0.113.150',
      '--no-dhcp',
      '--external',
    ]);
    expect(ext.status, ext.stderr).toBe(0);
    await ok('POST', '/v1/tenants/acme/networks', { name: 'web', cidr: '10.1.0.0/24' });
    const r1 = await c.ctl(['router', 'create', 'acme/r1', '--external-network', 'provider/ext']);
    expect(r1.status, r1.stderr).toBe(0);
    await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'web' });
    await ok('POST', '/v1/tenants/globex/networks', { name: 'web', cidr: '10.1.0.0/24' });
    await ok('POST', '/v1/tenants/globex/routers', { name: 'r1', external: true });
    await ok('POST', '/v1/tenants/globex/routers/r1/attach', { network: 'web' });
    // security groups apply to floating-IP traffic, as in Neutron: the outside reaches port 80 only with a rule
    await ok('POST', '/v1/tenants/acme/security-groups/default/rules', {
      direction: 'ingress',
      proto: 'tcp',
      portMin: 80,
      remoteCidr: '0.0.0.0/0',
    });
    await run('acme', 'web1', 'web', 0, WEB);
    await run('acme', 'web2', 'web', 1, IDLE);
    await run('globex', 'g1', 'web', 0, IDLE);
    for (const x of Object.values(m)) await waitAddr(x);
  }, 400_000);

  afterAll(async () => {
    for (const p of captures) p.kill('SIGKILL');
    whoami?.kill('SIGKILL');
    c?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('egress through the external network: source NAT to the router address of the node, one per node, from the pool', async () => {
    const show = await ok('GET', '/v1/tenants/acme/routers/r1');
    expect(show.externalNetwork).toBe('provider/ext');
    const gw = Object.fromEntries((show.gateways as Array<{ node: string; ip: string }>).map((g) => [g.node, g.ip]));
    expect(Object.keys(gw).sort()).toEqual(['node0', 'node1']);
    for (const ip of Object.values(gw)) expect(ip).toMatch(/^203\.0\.113\.1([0-4]\d|50)$/);
    expect(gw.node0).not.toBe(gw.node1);
    await c.waitFor(() => seenAs(m['acme/web1']) === gw.node0, 30_000, 'egress of web1 as the node0 router address');
    expect(seenAs(m['acme/web2'])).toBe(gw.node1);
    // globex's router egresses through the underlay: it never appears on the external segment
    expect(seenAs(m['globex/g1'])).toBe('');
    // the external network is not a tenant's to put containers on or to see
    const tenant = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token as string;
    expect((await c.api('GET', '/v1/tenants/provider/networks/ext', undefined, tenant)).status).toBe(404);
  });

  it('a floating IP: allocated from the pool, reached from outside, one to one (egress leaves with it)', async () => {
    const made = await c.ctl(['--json', 'floating-ip', 'create', 'provider/ext', '--tenant', 'acme']);
    expect(made.status, made.stderr).toBe(0);
    fip = JSON.parse(made.stdout).ip as string;
    expect(fip).toMatch(/^203\.0\.113\.1([0-4]\d|50)$/);
    const assoc = await c.ctl(['floating-ip', 'associate', fip, 'acme/web1']);
    expect(assoc.status, assoc.stderr).toBe(0);
    expect(assoc.stdout).toContain(`${fip} (provider/ext) → acme/web1 on node0`);
    await c.waitFor(() => fromOutside(`http://${fip}/`).includes('floating-page'), 60_000, 'the floating IP from outside');
    expect(seenAs(m['acme/web1'])).toBe(fip);
    const list = await c.ctl(['floating-ip', 'list', 'acme']);
    expect(list.stdout).toMatch(new RegExp(`acme\\s+${fip.replace(/\./g, '\\.')}\\s+provider/ext\\s+web1\\s+node0`));
  });

  it('refuses a second association of the address, another tenant’s container, a container without the external network', async () => {
    const again = await c.api('POST', `/v1/tenants/acme/floating-ips/${fip}/associate`, { container: 'web2' });
    expect([again.status, again.body.code]).toEqual([409, 'floating_ip_associated']);
    const cli = await c.ctl(['floating-ip', 'associate', fip, 'acme/web2']);
    expect(cli.status).not.toBe(0);
    expect(cli.stderr).toContain('floating_ip_associated');
    // the address is acme's: under globex it does not exist, and an acme token cannot reach globex at all
    const other = await c.api('POST', `/v1/tenants/globex/floating-ips/${fip}/associate`, { container: 'g1' });
    expect([other.status, other.body.code]).toEqual([404, 'floating_ip_not_found']);
    const tenant = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token as string;
    const cross = await c.api('POST', `/v1/tenants/acme/floating-ips/${fip}/associate`, { container: 'g1' }, tenant);
    expect([cross.status, cross.body.code]).toEqual([404, 'container_not_found']);
    // globex's own address cannot go to its container: its router has no external network
    const g = await ok('POST', '/v1/tenants/globex/floating-ips', { network: 'provider/ext' });
    const unrouted = await c.api('POST', `/v1/tenants/globex/floating-ips/${g.ip}/associate`, { container: 'g1' });
    expect([unrouted.status, unrouted.body.code, unrouted.body.path]).toEqual([400, 'invalid', 'container']);
    expect((await c.api('DELETE', `/v1/tenants/globex/floating-ips/${g.ip}`)).status).toBe(204);
    // the outside still reaches web1, nothing else answers at the address
    expect(fromOutside(`http://${fip}/`)).toContain('floating-page');
  });

  it('follows its container to another node: reached again, with a gratuitous ARP seen on the external segment', async () => {
    const pcap = join(dir, 'garp.pcap');
    captures.push(
      spawn('ip', ['netns', 'exec', sw.ns, 'tcpdump', '-U', '-n', '-e', '-i', sw.bridge(0), '-w', pcap, 'arp'], { stdio: 'ignore' }),
    );
    await new Promise((r) => setTimeout(r, 1500));
    // node0 dies and is deleted: web1 is rescheduled to node1 with its address, its floating IP with it
    await c.killAgent(0);
    reapContainers(c.stateDir(0));
    // a dead host answers nothing: its router namespaces go with it (on this one machine they would outlive the agent)
    for (const ns of JSON.parse(c.h.exec(c.h.node(0).ns, 'cat', [join(c.stateDir(0), 'routers.json')]).stdout) as string[])
      spawnSync('ip', ['netns', 'del', ns]);
    expect((await c.api('DELETE', '/v1/nodes/node0')).status).toBe(204);
    await c.waitFor(async () => (await c.api('GET', '/v1/tenants/acme/containers/web1')).body.node === 'node1', 60_000, 'rescheduled');
    await c.waitFor(() => fromOutside(`http://${fip}/`).includes('floating-page'), 180_000, 'the floating IP on node1');
    expect((await ok('GET', `/v1/tenants/acme/floating-ips/${fip}`)).node).toBe('node1');
    await new Promise((r) => setTimeout(r, 1000));
    const arp = spawnSync('tcpdump', ['-r', pcap, '-n', '-e'], { encoding: 'utf8' }).stdout.split('\n');
    // gratuitous: a request for the address from the address itself, sent by node1's router port
    const garps = arp.filter((l) => new RegExp(`Request who-has ${fip} (\\(ff:ff:ff:ff:ff:ff\\) )?tell ${fip},`).test(l));
    expect(garps.length, arp.join('\n')).toBeGreaterThan(0);
    const mac = c.h.exec(c.h.node(1).ns, 'ip', ['-n', routerNs(c, 1), '-j', 'link', 'show', 'frk-out']).stdout;
    // node0's own announcement (arping sends two, a second apart) may still fall inside the capture
    const node1Mac = (JSON.parse(mac) as Array<{ address: string }>)[0].address;
    expect(
      garps.some((l) => l.includes(`${node1Mac} > ff:ff:ff:ff:ff:ff`)),
      arp.join('\n'),
    ).toBe(true);
  }, 400_000);
});

/** The router netns on node i with an external port (acme/r1's; globex's router has none). */
function routerNs(c: Cluster, i: number): string {
  const owned = JSON.parse(c.h.exec(c.h.node(i).ns, 'cat', [join(c.stateDir(i), 'routers.json')]).stdout) as string[];
  return owned.find((ns) => c.h.exec(c.h.node(i).ns, 'ip', ['-n', ns, 'link', 'show', 'frk-out']).status === 0) ?? '';
}
