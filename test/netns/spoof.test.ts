/**
 * Anti-spoofing end to end: the real controller and two real agents, busybox containers
 * on one tenant network. A spoofing container tries a foreign MAC, a foreign source IP,
 * gratuitous ARP for another container's IP and its own DHCP server; captures on the
 * victims' eth0 (one on the spoofer's node, one on the other node) see none of it, while
 * a well-behaved container still reaches both. The agent's drop counters rose, and
 * deleting the spoofer removes its set elements.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DHCP_CMD } from './cluster.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot, SKIP_REASON } from '../support/netns.js';

const FAKE_MAC = '02:66:66:66:66:01';
const INFRA_IP = '10.0.0.254';

interface Made {
  id: string;
  ip: string;
  mac: string;
  node: number;
}

describe.skipIf(!isRoot)('anti-spoofing on container ports (controller + 2 agents)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let dir: string;
  const m: Record<string, Made> = {};
  const captures: ChildProcess[] = [];

  async function run(name: string, node: number): Promise<Made> {
    const r = await c.api('POST', '/v1/tenants/acme/containers', {
      name,
      image: 'busybox',
      networks: ['net'],
      node: `node${node}`,
      command: DHCP_CMD,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return (m[name] = { id: r.body.id, ip: r.body.endpoints[0].ip, mac: r.body.endpoints[0].mac, node });
  }

  const ns = (x: Made) => c.netnsOf(x.id);
  const inNs = (x: Made, cmd: string, args: string[]) => c.exec(x.id, cmd, args);
  /** Frames matching a tcpdump filter seen so far on a victim's eth0. */
  const seen = (victim: string, filter: string): number => {
    const r = spawnSync('tcpdump', ['-r', join(dir, `${victim}.pcap`), '-n', filter], { encoding: 'utf8' });
    return r.stdout.split('\n').filter(Boolean).length;
  };
  /** Frames are written asynchronously: a fresh ping from g, once captured, proves all earlier frames are too. */
  const settle = async (): Promise<void> => {
    const n = (v: string) => seen(v, `icmp and ether src ${m.g.mac}`);
    const before = { v0: n('v0'), v1: n('v1') };
    for (const v of [m.v0, m.v1]) inNs(m.g, 'ping', ['-c', '1', '-W', '2', v.ip]);
    await c.waitFor(() => n('v0') > before.v0 && n('v1') > before.v1, 5_000, 'captures caught up');
  };
  const counters = (node: number): Record<string, number> => {
    const r = c.h.exec(c.h.node(node).ns, 'nft', ['-j', 'list', 'counters', 'table', 'bridge', 'freight']);
    const objs = (JSON.parse(r.stdout) as { nftables: Array<{ counter?: { name: string; packets: number } }> }).nftables;
    return Object.fromEntries(objs.filter((o) => o.counter).map((o) => [o.counter!.name, o.counter!.packets]));
  };
  const hexIp = (ip: string) =>
    `0x${ip
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('')}`;
  /** The spoofer sends straight to the victims: no ARP of its own that the guard would drop first. */
  const pinVictims = () => {
    for (const v of [m.v0, m.v1]) inNs(m.s, 'ip', ['neigh', 'replace', v.ip, 'lladdr', v.mac, 'dev', 'eth0', 'nud', 'permanent']);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frt-spoof-'));
    db = await freshDatabase('freight_spoof');
    c = await Cluster.start({ nodes: 2, databaseUrl: db.url, heartbeatMs: 500 });
    expect((await c.api('POST', '/v1/tenants', { name: 'acme' })).status).toBe(201);
    expect((await c.api('POST', '/v1/tenants/acme/networks', { name: 'net', type: 'vxlan', cidr: '10.0.0.0/24' })).status).toBe(201);
    await run('s', 0);
    await run('v0', 0);
    await run('v1', 1);
    await run('g', 0);
    await c.waitFor(() => Object.values(m).every((x) => c.addressOf(x.id) === x.ip), 120_000, 'DHCP addresses');
    for (const v of ['v0', 'v1']) {
      captures.push(
        spawn('ip', ['netns', 'exec', ns(m[v]), 'tcpdump', '-i', 'eth0', '-U', '-n', '-w', join(dir, `${v}.pcap`)], { stdio: 'ignore' }),
      );
    }
    await c.waitFor(
      () => ['v0', 'v1'].every((v) => spawnSync('test', ['-s', join(dir, `${v}.pcap`)]).status === 0),
      10_000,
      'captures running',
    );
    pinVictims();
  }, 240_000);

  afterAll(async () => {
    for (const p of captures) p.kill('SIGTERM');
    c?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a well-behaved container reaches both victims (same node and across nodes)', () => {
    for (const v of [m.v0, m.v1]) expect(inNs(m.g, 'ping', ['-c', '2', '-W', '2', v.ip]).status, `g → ${v.ip}`).toBe(0);
    expect(seen('v0', `icmp and ether src ${m.g.mac}`)).toBeGreaterThan(0);
    expect(seen('v1', `icmp and ether src ${m.g.mac}`)).toBeGreaterThan(0);
  });

  it('(a) frames from a changed MAC reach no victim', async () => {
    const before = counters(0).spoof_mac;
    inNs(m.s, 'ip', ['link', 'set', 'eth0', 'address', FAKE_MAC]);
    try {
      for (const v of [m.v0, m.v1]) expect(inNs(m.s, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', v.ip]).status).not.toBe(0);
    } finally {
      inNs(m.s, 'ip', ['link', 'set', 'eth0', 'address', m.s.mac]);
    }
    await settle();
    expect(seen('v0', `ether src ${FAKE_MAC}`)).toBe(0);
    expect(seen('v1', `ether src ${FAKE_MAC}`)).toBe(0);
    // at least one dropped frame per victim: ARP requests or echo requests, as the
    // spoofer's neighbour cache happens to be (how many varies with timing)
    expect(counters(0).spoof_mac).toBeGreaterThanOrEqual(before + 2);
  });

  it("(b) packets with another container's IP as source reach no victim; its own address still works", async () => {
    const before = counters(0).spoof_ip;
    pinVictims();
    inNs(m.s, 'ip', ['addr', 'add', `${m.g.ip}/32`, 'dev', 'eth0']);
    try {
      for (const v of [m.v0, m.v1]) expect(inNs(m.s, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-I', m.g.ip, v.ip]).status).not.toBe(0);
    } finally {
      inNs(m.s, 'ip', ['addr', 'del', `${m.g.ip}/32`, 'dev', 'eth0']);
    }
    await settle();
    for (const v of ['v0', 'v1']) expect(seen(v, `ip src ${m.g.ip} and ether src ${m.s.mac}`), v).toBe(0);
    expect(counters(0).spoof_ip).toBeGreaterThanOrEqual(before + 6);
    expect(inNs(m.s, 'ping', ['-c', '1', '-W', '2', m.v1.ip]).status).toBe(0);
  });

  it("(c) gratuitous ARP for another container's IP reaches no victim and poisons no cache", async () => {
    const before = counters(0).spoof_arp;
    inNs(m.s, 'sysctl', ['-qw', 'net.ipv4.ip_nonlocal_bind=1']);
    const r = inNs(m.s, 'busybox', ['arping', '-U', '-c', '3', '-I', 'eth0', '-s', m.g.ip, m.g.ip]);
    expect(r.status, r.stderr).toBe(0);
    await settle();
    for (const v of ['v0', 'v1']) expect(seen(v, `arp and ether src ${m.s.mac} and arp[14:4] = ${hexIp(m.g.ip)}`), v).toBe(0);
    expect(counters(0).spoof_arp).toBeGreaterThanOrEqual(before + 3);
    for (const v of [m.v0, m.v1]) expect(inNs(v, 'ip', ['neigh', 'show', m.g.ip]).stdout).not.toContain(m.s.mac);
  });

  it("(d) the spoofer's own DHCP server reaches no victim; the infra container's replies do", async () => {
    const before = counters(0).rogue_dhcp;
    const conf = join(dir, 'udhcpd.conf');
    writeFileSync(
      conf,
      `interface eth0\nstart 10.0.0.100\nend 10.0.0.150\nlease_file ${join(dir, 'leases')}\npidfile ${join(dir, 'udhcpd.pid')}\noption router ${m.s.ip}\noption dns ${m.s.ip}\n`,
    );
    const rogue = spawn('ip', ['netns', 'exec', ns(m.s), 'busybox', 'udhcpd', '-f', '-a', '0', conf], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      // a victim asks (its lease stays: the script does nothing)
      for (const v of [m.v0, m.v1]) {
        const r = inNs(v, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', '/bin/true']);
        expect(r.stderr).toContain(`obtained from ${INFRA_IP}`);
      }
    } finally {
      rogue.kill('SIGTERM');
    }
    // the capture writes asynchronously: wait for the infra container's replies to show
    await settle();
    for (const v of ['v0', 'v1'])
      expect(seen(v, `udp src port 67 and src host ${INFRA_IP}`), `${v}: the infra container's replies`).toBeGreaterThan(0);
    for (const v of ['v0', 'v1']) expect(seen(v, `udp src port 67 and ether src ${m.s.mac}`), v).toBe(0);
    expect(counters(0).rogue_dhcp).toBeGreaterThan(before);
  });

  it("deleting the spoofer removes its elements from its node's table", async () => {
    const port = `frh-${m.s.id.replace(/-/g, '').slice(0, 8)}0`;
    const elems = () => c.h.exec(c.h.node(0).ns, 'nft', ['list', 'set', 'bridge', 'freight', 'port_mac']).stdout;
    expect(elems()).toContain(port);
    expect((await c.api('DELETE', '/v1/tenants/acme/containers/s')).status).toBe(204);
    await c.waitFor(() => !elems().includes(port), 10_000, 'spoofer elements removed');
    expect(elems()).toContain(`frh-${m.g.id.replace(/-/g, '').slice(0, 8)}0`);
  });
});

if (!isRoot) describe('anti-spoofing', () => it.skip(SKIP_REASON, () => {}));
