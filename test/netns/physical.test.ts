/**
 * Physical (flat) networks end to end: the real controller and two real agents, each node with
 * `eth1` and `eth2` into a "datacenter switch" namespace, mapped as `datacenter` and `lab`; a
 * bare-metal server namespace on each segment with a fixed address. On `datacenter` (DHCP) and
 * `lab` (--no-dhcp) containers on both nodes get their addresses, reach each other and the
 * bare-metal servers; the switch sees their frames untagged; a DHCP client on the bare-metal side
 * gets no answer from Freight; anti-spoofing still drops a forged source; an interface with an
 * address is refused as a mapping. VLAN networks need 802.1Q: test/qemu/vlan.kernel.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DHCP_CMD, ROOT } from './cluster.js';
import { addSwitch, mappingArgs, type Segment, type Switch } from './switch.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot } from '../support/netns.js';

const SEGMENTS: Segment[] = [
  { name: 'datacenter', servers: [{ address: '192.168.10.5/24' }] },
  { name: 'lab', servers: [{ address: '192.168.20.1/24' }] },
];
const BM = '192.168.10.5';
const LAB_GW = '192.168.20.1';
const IDLE = ['sh', '-c', 'exec sleep 2147483647'];

interface Made {
  id: string;
  ip: string;
  mac: string;
}

describe.skipIf(!isRoot)('physical flat networks on a datacenter switch (controller + 2 agents)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let sw: Switch;
  let dir: string;
  const m: Record<string, Made> = {};
  const captures: ChildProcess[] = [];

  const run = async (name: string, network: string, node: number, command: string[]): Promise<Made> => {
    const r = await c.api('POST', '/v1/tenants/acme/containers', {
      name,
      image: 'busybox',
      networks: [network],
      node: `node${node}`,
      command,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return (m[name] = { id: r.body.id, ip: r.body.endpoints[0].ip, mac: r.body.endpoints[0].mac });
  };
  const waitAddress = (x: Made) => c.waitFor(() => c.addressOf(x.id) === x.ip, 120_000, `address ${x.ip} on ${x.id}`);
  const ping = (x: Made, to: string, extra: string[] = []) =>
    c.exec(x.id, 'ping', ['-c', '2', '-i', '0.3', '-W', '2', ...extra, to]).status === 0;
  const server = (k: number) => sw.servers[k][0];
  const capture = (ns: string, ifname: string, file: string, filter: string[]) => {
    const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', ifname, '-U', '-n', '-e', '-w', join(dir, file), ...filter], {
      stdio: 'ignore',
    });
    captures.push(p);
    return p;
  };
  const read = (file: string, filter: string[] = []) =>
    spawnSync('tcpdump', ['-r', join(dir, file), '-n', '-e', ...filter], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean);
  const counter = (node: number, name: string): number => {
    const r = c.h.exec(c.h.node(node).ns, 'nft', ['-j', 'list', 'counters', 'table', 'bridge', 'freight']);
    const objs = (JSON.parse(r.stdout) as { nftables: Array<{ counter?: { name: string; packets: number } }> }).nftables;
    return objs.find((o) => o.counter?.name === name)?.counter?.packets ?? 0;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frt-phys-'));
    db = await freshDatabase('freight_physical');
    c = await Cluster.start({
      nodes: 2,
      databaseUrl: db.url,
      heartbeatMs: 500,
      beforeAgents: (h) => (sw = addSwitch(h, SEGMENTS)),
      agentArgs: () => mappingArgs(SEGMENTS),
    });
    expect((await c.api('POST', '/v1/tenants', { name: 'acme' })).status).toBe(201);
  }, 180_000);

  afterAll(async () => {
    for (const p of captures) p.kill('SIGKILL');
    c?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('each agent reports its mappings: `freightctl node show` lists them', async () => {
    const r = await c.ctl(['node', 'show', 'node1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/physical networks\n {2}datacenter: eth1 \(mtu 1500\)\n {2}lab: eth2 \(mtu 1500\)/);
  });

  it('only an admin creates a physical network; the flat one on datacenter has a pool and no VNI', async () => {
    const tenant = (await c.api('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).body.token as string;
    const args = ['network', 'create', 'acme/dc', '--type', 'physical', '--physical-network', 'datacenter'];
    const rest = ['--cidr', '192.168.10.0/24', '--gateway', '192.168.10.1', '--pool', '192.168.10.100-192.168.10.199'];
    const denied = await c.ctl([...args, ...rest], tenant);
    expect([denied.status, denied.stderr]).toEqual([1, expect.stringContaining('admin_only_network_type')]);
    const r = await c.ctl([...args, ...rest]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/network acme\/dc created: datacenter flat, 192\.168\.10\.0\/24, infra 192\.168\.10\.199/);
    const lab = await c.ctl([
      'network',
      'create',
      'acme/lab',
      '--type',
      'physical',
      '--physical-network',
      'lab',
      '--cidr',
      '192.168.20.0/24',
      '--gateway',
      LAB_GW,
      '--pool',
      '192.168.20.50-192.168.20.60',
      '--no-dhcp',
    ]);
    expect(lab.status, lab.stderr).toBe(0);
    const show = await c.api('GET', '/v1/tenants/acme/networks/lab');
    expect(show.body).toMatchObject({ vni: null, dhcp: false, params: { type: 'physical', physicalNetwork: 'lab' } });
  });

  it('DHCP: containers on both nodes get pool addresses, reach each other and the bare-metal server, untagged on the switch', async () => {
    capture(sw.ns, sw.port(0, 0), 'dc-node0.pcap', ['icmp or vlan']);
    await run('a', 'dc', 0, DHCP_CMD);
    await run('b', 'dc', 1, DHCP_CMD);
    expect([m.a.ip, m.b.ip]).toEqual(['192.168.10.100', '192.168.10.101']);
    await waitAddress(m.a);
    await waitAddress(m.b);
    expect(ping(m.a, m.b.ip), 'a → b across the switch').toBe(true);
    expect(ping(m.a, BM), 'a → bare metal').toBe(true);
    expect(ping(m.b, BM), 'b → bare metal').toBe(true);
    expect(c.h.exec(server(0), 'ping', ['-c', '2', '-W', '2', m.b.ip]).status, 'bare metal → b').toBe(0);
    // the MTU of the mapped interface, no encapsulation taken off
    expect(c.exec(m.a.id, 'ip', ['-o', 'link', 'show', 'dev', 'eth0']).stdout).toMatch(/mtu 1500/);
    await c.waitFor(() => read('dc-node0.pcap', ['icmp']).length >= 4, 10_000, 'icmp captured on the switch');
    const frames = read('dc-node0.pcap');
    expect(frames.filter((l) => /ethertype IPv4/.test(l)).length).toBeGreaterThanOrEqual(4);
    expect(frames.filter((l) => /802\.1Q|vlan/i.test(l))).toEqual([]);
  });

  it('a DHCP client on the bare-metal side gets no answer from Freight (only its own bindings are served)', async () => {
    capture(sw.ns, `s0x0`, 'bm-dhcp.pcap', ['udp port 67 or udp port 68']);
    await new Promise((r) => setTimeout(r, 500));
    const r = c.h.exec(server(0), 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', '/bin/true'], 30_000);
    expect(r.status, r.stdout + r.stderr).not.toBe(0);
    await c.waitFor(() => read('bm-dhcp.pcap', ['udp dst port 67']).length >= 4, 10_000, 'the DISCOVERs on the switch');
    expect(read('bm-dhcp.pcap', ['udp src port 67'])).toEqual([]);
    // the same server answers Freight's own container (renewal by a fresh client on a)
    const own = c.exec(m.a.id, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', '/bin/true'], 30_000);
    expect(own.status, own.stdout + own.stderr).toBe(0);
  });

  it('anti-spoofing still drops a forged source on a physical network', async () => {
    capture(server(0), 'eth0', 'bm-spoof.pcap', ['icmp']);
    await new Promise((r) => setTimeout(r, 500));
    const before = counter(0, 'spoof_ip');
    c.exec(m.a.id, 'ip', ['addr', 'add', '192.168.10.77/32', 'dev', 'eth0']);
    expect(ping(m.a, BM, ['-I', '192.168.10.77'])).toBe(false);
    expect(counter(0, 'spoof_ip')).toBeGreaterThan(before);
    // its own address still works, and only that reached the server
    expect(ping(m.a, BM)).toBe(true);
    await c.waitFor(() => read('bm-spoof.pcap', [`src ${m.a.ip}`]).length >= 2, 10_000, 'own pings captured');
    expect(read('bm-spoof.pcap', ['src 192.168.10.77'])).toEqual([]);
    c.exec(m.a.id, 'ip', ['addr', 'del', '192.168.10.77/32', 'dev', 'eth0']);
  });

  it('--no-dhcp: the agent sets address, default route and resolver; containers reach each other and the gateway', async () => {
    await run('p', 'lab', 0, IDLE);
    await run('q', 'lab', 1, IDLE);
    expect([m.p.ip, m.q.ip]).toEqual(['192.168.20.50', '192.168.20.51']);
    await waitAddress(m.p);
    await waitAddress(m.q);
    expect(c.exec(m.p.id, 'ip', ['route', 'show', 'default']).stdout).toMatch(
      new RegExp(`default via ${LAB_GW.replace(/\./g, '\\.')} dev eth0`),
    );
    expect(ping(m.p, m.q.ip), 'p → q').toBe(true);
    expect(ping(m.q, LAB_GW), 'q → the bare-metal gateway').toBe(true);
    // the resolver inside the container (its own mount namespace): the infra instance, serving DNS only
    const pid = spawnSync('ip', ['netns', 'pids', c.netnsOf(m.p.id)], { encoding: 'utf8' })
      .stdout.split(/\s+/)
      .filter(Boolean)
      .pop()!;
    const resolv = readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8');
    expect(resolv).toBe('nameserver 192.168.20.60\nsearch lab.acme.freight.internal\n');
    await c.waitFor(
      () =>
        /192\.168\.20\.51/.test(
          c.exec(m.p.id, 'dig', ['@192.168.20.60', '+short', '+time=1', '+tries=2', 'q.lab.acme.freight.internal']).stdout,
        ),
      30_000,
      'q resolved by the lab infra',
    );
    // and that infra instance answers no DHCP at all, not even Freight's own containers
    const dhcp = c.exec(m.p.id, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', '/bin/true'], 30_000);
    expect(dhcp.status).not.toBe(0);
  });

  it('a container of a physical network no ready node maps stays pending, with the reason in `container show`', async () => {
    const n = await c.api('POST', '/v1/tenants/acme/networks', {
      name: 'far',
      cidr: '192.168.30.0/24',
      params: { type: 'physical', physicalNetwork: 'elsewhere' },
      pools: [{ start: '192.168.30.10', end: '192.168.30.20' }],
    });
    expect(n.status, JSON.stringify(n.body)).toBe(201);
    expect((await c.api('POST', '/v1/tenants/acme/containers', { name: 'lost', image: 'busybox', networks: ['far'] })).status).toBe(201);
    const r = await c.ctl(['container', 'show', 'acme/lost']);
    expect(r.stdout).toMatch(/observedState\s+pending/);
    expect(r.stdout).toMatch(/reason\s+no ready node maps physical network elsewhere/);
  });

  it('an interface with an address is refused as a mapping: the agent exits naming it (the uplink rule)', () => {
    const n = c.h.node(0);
    const r = spawnSync(
      'nsenter',
      [
        `--net=/run/netns/${n.ns}`,
        '--',
        process.execPath,
        join(ROOT, 'dist/node-agent/main.js'),
        '--join',
        c.joinOf(0),
        '--node',
        n.name,
        '--underlay-ip',
        n.underlayIp,
        '--state-dir',
        join(dir, 'refused'),
        '--physical-network',
        'underlay=ul0',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /--physical-network underlay=ul0: ul0 has address 198\.18\.0\.1\/24; a physical network needs a dedicated interface/,
    );
  });
});
