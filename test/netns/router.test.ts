/**
 * Tenant routers end to end (PostgreSQL, real controller and agents, busybox containers taking
 * their addresses by DHCP): distributed routing between two networks across nodes, egress with
 * SNAT to an "outside" namespace, the control plane out of reach, tenants with overlapping CIDRs
 * kept apart, an agent restart under a routed TCP stream.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DHCP_CMD, reapContainers } from './cluster.js';
import { Outside, OUTSIDE_IP, OUTSIDE_NAME } from './outside.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot } from '../support/netns.js';

interface Made {
  id: string;
  ip: string;
  node: number;
}

describe.skipIf(!isRoot)('tenant routers end to end (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let out: Outside;
  const made: Record<string, Made> = {};

  async function run(tenant: string, name: string, network: string, node: number, extra: Record<string, unknown> = {}): Promise<Made> {
    const r = await c.api('POST', `/v1/tenants/${tenant}/containers`, {
      name,
      image: 'busybox',
      networks: [network],
      node: `node${node}`,
      command: DHCP_CMD,
      ...extra,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return (made[`${tenant}/${name}`] = { id: r.body.id, ip: r.body.endpoints[0].ip, node });
  }
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await c.api(method, url, body);
    expect(r.status, `${method} ${url}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  };
  const sh = (m: Made, cmd: string, args: string[], timeoutMs?: number) => c.exec(m.id, cmd, args, timeoutMs);
  const ping = (m: Made, to: string, count = 3) => sh(m, 'ping', ['-c', String(count), '-W', '1', '-i', '0.2', to]).status === 0;
  const curl = (m: Made, url: string) => sh(m, 'curl', ['-s', '-m', '3', url]);
  /** TCP connect from a container: 0 on success (socat, no data). */
  const connect = (m: Made, host: string, port: number) =>
    sh(m, 'socat', ['-T', '2', '/dev/null', `TCP:${host}:${port},connect-timeout=2`]).status;
  const waitAddr = (m: Made) => c.waitFor(() => c.addressOf(m.id) === m.ip, 180_000, `${m.id} has ${m.ip}`);

  beforeAll(async () => {
    db = await freshDatabase('freight_router');
    c = await Cluster.start({ nodes: 2, databaseUrl: db.url, agentArgs: () => ['--dns-upstream', OUTSIDE_IP] });
    out = await Outside.start(c.h);
    for (const t of ['acme', 'globex']) await ok('POST', '/v1/tenants', { name: t });
    await ok('POST', '/v1/tenants/acme/networks', { name: 'web', cidr: '10.1.0.0/24' });
    await ok('POST', '/v1/tenants/acme/networks', { name: 'db', cidr: '10.2.0.0/24' });
    await ok('POST', '/v1/tenants/acme/networks', { name: 'island', cidr: '10.9.0.0/24' });
    await ok('POST', '/v1/tenants/acme/routers', { name: 'r1', external: true });
    await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'web' });
    await ok('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'db' });
    // globex: the same CIDRs, its own router, on the same nodes
    await ok('POST', '/v1/tenants/globex/networks', { name: 'web', cidr: '10.1.0.0/24' });
    await ok('POST', '/v1/tenants/globex/networks', { name: 'db', cidr: '10.2.0.0/24' });
    await ok('POST', '/v1/tenants/globex/routers', { name: 'r1', external: true });
    await ok('POST', '/v1/tenants/globex/routers/r1/attach', { network: 'web' });
    await ok('POST', '/v1/tenants/globex/routers/r1/attach', { network: 'db' });
    await run('acme', 'w1', 'web', 0);
    await run('acme', 'd1', 'db', 1);
    await run('acme', 'lone', 'island', 0);
    await run('globex', 'w1', 'web', 0);
    await run('globex', 'd1', 'db', 1);
    for (const m of Object.values(made)) await waitAddr(m);
  }, 300_000);

  afterAll(() => {
    out?.stop();
    c?.stop();
    void db?.drop();
  });

  it('routes between two networks across nodes: ping and TCP, the gateway the only hop, one underlay crossing', async () => {
    const w1 = made['acme/w1'];
    const d1 = made['acme/d1'];
    await c.waitFor(() => ping(w1, d1.ip, 1), 30_000, 'routed ping');
    expect(ping(w1, d1.ip, 3)).toBe(true);
    expect(ping(d1, w1.ip, 3)).toBe(true);
    // TCP: a server in d1, a client in w1
    const srv = spawn('ip', ['netns', 'exec', c.netnsOf(d1.id), 'socat', 'TCP-LISTEN:7000,reuseaddr', 'SYSTEM:echo routed-tcp'], {
      stdio: 'ignore',
    });
    try {
      await c.waitFor(
        () => sh(w1, 'socat', ['-T', '2', '-', `TCP:${d1.ip}:7000,connect-timeout=2`]).stdout.includes('routed-tcp'),
        20_000,
        'TCP',
      );
    } finally {
      srv.kill('SIGKILL');
    }
    // traceroute: 10.1.0.1 (web's gateway, answered on node0) then the destination
    const tr = sh(w1, 'busybox', ['traceroute', '-n', '-q', '1', '-w', '2', '-m', '5', d1.ip], 40_000).stdout;
    const hops = tr
      .split('\n')
      .filter((l) => /^\s*\d+\s/.test(l))
      .map((l) => l.trim().split(/\s+/)[1]);
    expect(hops).toEqual(['10.1.0.1', d1.ip]);
    // each echo request crosses the underlay once: node0's underlay port sees it once, tunnelled to node1
    const pcap = path.join(os.tmpdir(), `freight-router-${c.h.tag}.pcap`);
    const cap = spawn('ip', ['netns', 'exec', c.h.underlay, 'tcpdump', '-U', '-n', '-i', 'n0', '-w', pcap, 'udp port 4789'], {
      stdio: 'ignore',
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(sh(w1, 'ping', ['-c', '10', '-i', '0.1', '-W', '1', '-p', 'abcd', d1.ip]).status).toBe(0);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      cap.kill('SIGINT');
      await new Promise((r) => cap.once('exit', r));
    }
    const text = c.h.exec(c.h.underlay, 'tcpdump', ['-n', '-r', pcap]).stdout;
    rmSync(pcap, { force: true });
    const requests = text.split('\n').filter((l) => l.includes(`${w1.ip} > ${d1.ip}: ICMP echo request`));
    expect(requests).toHaveLength(10);
    // and no ARP for a gateway ever went into the tunnels
    expect(text).not.toMatch(/ARP, Request who-has 10\.[12]\.0\.1 /);
  });

  it('egress: a routed container fetches from outside with the node underlay address as source; an unrouted one cannot', async () => {
    const w1 = made['acme/w1'];
    const d1 = made['acme/d1'];
    const first = curl(w1, `http://${OUTSIDE_IP}:8080/`);
    expect(first.stdout).toContain('hello from outside');
    // the server's log line arrives through a pipe this process reads between awaits
    await c.waitFor(() => out.http.length === 1, 10_000, 'server log');
    expect(out.http).toEqual([c.h.node(0).underlayIp]);
    expect(curl(d1, `http://${OUTSIDE_IP}:8080/`).stdout).toContain('hello from outside');
    await c.waitFor(() => out.http.length === 2, 10_000, 'server log');
    expect(out.http[1]).toBe(c.h.node(1).underlayIp);
    expect(curl(made['acme/lone'], `http://${OUTSIDE_IP}:8080/`).status).not.toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(out.http).toHaveLength(2);
  });

  it('DNS: a container resolves an outside name through its infra container, forwarding over the egress', async () => {
    const w1 = made['acme/w1'];
    const infra = (await ok('GET', '/v1/tenants/acme/networks/web')).infra;
    await c.waitFor(
      () => sh(w1, 'dig', [`@${infra.ip}`, '+time=1', '+tries=2', '+short', OUTSIDE_NAME]).stdout.trim() === OUTSIDE_IP,
      40_000,
      'outside name resolved',
    );
    await c.waitFor(() => out.dns.length > 0, 10_000, 'resolver log');
    // the infra container's query left through a node's egress, source-NATed to its underlay address
    expect([c.h.node(0).underlayIp, c.h.node(1).underlayIp]).toContain(out.dns.at(-1));
  });

  it('keeps the control plane out of reach: controller, its database port, another node’s agent port, tunnel ports', async () => {
    const w1 = made['acme/w1'];
    // stand-ins listening where PostgreSQL and another node's agent would: they must not be reached
    const pg = spawn('ip', ['netns', 'exec', c.h.underlay, 'socat', 'TCP-LISTEN:5432,bind=198.18.0.254,reuseaddr,fork', 'SYSTEM:echo pg'], {
      stdio: 'ignore',
    });
    const agentPort = spawn('ip', ['netns', 'exec', c.h.node(1).ns, 'socat', 'TCP-LISTEN:9100,reuseaddr,fork', 'SYSTEM:echo agent'], {
      stdio: 'ignore',
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      // the listeners are up (reached from the underlay namespace itself)
      expect(c.h.exec(c.h.underlay, 'socat', ['-T', '2', '-', 'TCP:198.18.0.254:5432']).stdout).toContain('pg');
      expect(c.h.exec(c.h.underlay, 'socat', ['-T', '2', '-', `TCP:${c.h.node(1).underlayIp}:9100`]).stdout).toContain('agent');
      expect(connect(w1, '198.18.0.254', 7400)).not.toBe(0); // controller API
      expect(connect(w1, '198.18.0.254', 5432)).not.toBe(0);
      expect(connect(w1, c.h.node(1).underlayIp, 9100)).not.toBe(0);
      expect(connect(w1, c.h.node(0).underlayIp, 9100)).not.toBe(0); // its own node
      expect(ping(w1, c.h.node(1).underlayIp, 1)).toBe(false);
    } finally {
      pg.kill('SIGKILL');
      agentPort.kill('SIGKILL');
    }
    const drops = c.h.exec(c.h.node(0).ns, 'nft', ['list', 'table', 'ip', 'freight_router']).stdout;
    expect(drops).toMatch(/counter packets [1-9]\d* bytes \d+ drop comment "deny"/);
  });

  it('isolates tenants with overlapping CIDRs and routers on the same nodes: 0 frames across', async () => {
    const a = made['acme/w1'];
    const g = made['globex/w1'];
    expect(a.ip).toBe(g.ip); // same address, different tenants
    const gd = made['globex/d1'];
    const pcap = path.join(os.tmpdir(), `freight-router-iso-${c.h.tag}.pcap`);
    const caps = [g, gd].map((m, i) =>
      spawn('ip', ['netns', 'exec', c.netnsOf(m.id), 'tcpdump', '-U', '-n', '-i', 'eth0', '-w', `${pcap}.${i}`, 'icmp or tcp'], {
        stdio: 'ignore',
      }),
    );
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(ping(a, made['acme/d1'].ip, 5)).toBe(true);
      expect(sh(a, 'ping', ['-c', '3', '-W', '1', '-i', '0.2', '-p', 'aced', '10.2.0.99']).status).not.toBe(0);
      expect(curl(a, `http://${gd.ip}:80/`).status).not.toBe(0);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      for (const p of caps) p.kill('SIGINT');
      await Promise.all(caps.map((p) => new Promise((r) => p.once('exit', r))));
    }
    for (const i of [0, 1]) {
      const frames = c.h
        .exec(c.h.underlay, 'tcpdump', ['-n', '-r', `${pcap}.${i}`])
        .stdout.split('\n')
        .filter(Boolean);
      rmSync(`${pcap}.${i}`, { force: true });
      expect(frames).toEqual([]);
    }
    // globex routes on its own
    expect(ping(g, gd.ip, 2)).toBe(true);
  });

  it('applies anti-spoofing to routed traffic: a packet with another source address is dropped', async () => {
    const w1 = made['acme/w1'];
    const d1 = made['acme/d1'];
    const ns = c.netnsOf(w1.id);
    // a second address on eth0: the routed echo from it must never reach d1
    c.h.exec(ns, 'ip', ['addr', 'add', '10.1.0.77/24', 'dev', 'eth0']);
    try {
      expect(c.h.exec(ns, 'ping', ['-c', '3', '-W', '1', '-i', '0.2', '-I', '10.1.0.77', d1.ip]).status).not.toBe(0);
    } finally {
      c.h.exec(ns, 'ip', ['addr', 'del', '10.1.0.77/24', 'dev', 'eth0']);
    }
    const guard = c.h.exec(c.h.node(0).ns, 'nft', ['list', 'table', 'bridge', 'freight']).stdout;
    expect(guard).toMatch(/spoof_ip/);
  });

  it('hands out DHCP option 3 only on routed networks, with option 121 for the router’s other networks', () => {
    const routes = (m: Made) => c.exec(m.id, 'ip', ['-4', 'route', 'show']).stdout;
    expect(routes(made['acme/w1'])).toMatch(/default via 10\.1\.0\.1/);
    expect(routes(made['acme/lone'])).not.toMatch(/default/);
    const st = JSON.parse(readFileSync(path.join(c.stateDir(0), 'view.json'), 'utf8'));
    expect(Object.values(st.networks as Record<string, { name: string }>).map((n) => n.name)).toEqual(
      expect.arrayContaining(['web', 'db', 'island']),
    );
  });

  it('survives an agent restart under a routed TCP stream: no reset, no lost ping at 10/s', async () => {
    const w1 = made['acme/w1'];
    const d1 = made['acme/d1'];
    const srv = spawn('ip', ['netns', 'exec', c.netnsOf(d1.id), 'iperf3', '-s', '-1', '-p', '5301'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const exit = (p: ReturnType<typeof spawn>) => new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      let json = '';
      const client = spawn('ip', ['netns', 'exec', c.netnsOf(w1.id), 'iperf3', '-c', d1.ip, '-p', '5301', '-t', '15', '-b', '20M', '-J']);
      client.stdout.on('data', (d: Buffer) => (json += d));
      let pingOut = '';
      const pinger = spawn('ip', ['netns', 'exec', c.netnsOf(w1.id), 'ping', '-i', '0.1', '-c', '130', '-W', '1', d1.ip]);
      pinger.stdout.on('data', (d: Buffer) => (pingOut += d));
      const [clientDone, pingDone] = [exit(client), exit(pinger)];
      await new Promise((r) => setTimeout(r, 2000));
      for (const i of [0, 1]) {
        await c.killAgent(i);
        await c.startAgent(i);
      }
      await c.waitFor(
        async () => (await c.api('GET', '/v1/nodes')).body.items.every((n: { ready: boolean }) => n.ready),
        60_000,
        'nodes ready',
      );
      expect(await clientDone).toBe(0);
      expect(await pingDone).toBe(0);
      expect(pingOut).toMatch(/130 packets transmitted, 130 received, 0% packet loss/);
      const r = JSON.parse(json);
      expect(r.error).toBeUndefined();
      expect(r.end.sum_received.bytes).toBeGreaterThan(0);
    } finally {
      srv.kill('SIGKILL');
    }
  }, 180_000);

  it('publishes a port: reachable from outside at the node address, a duplicate is 409, it follows the container to another node', async () => {
    const page = [
      'sh',
      '-c',
      'udhcpc -i eth0 -b -S -t 60 -T 1 -A 1 -s /usr/share/udhcpc/default.script; mkdir -p /tmp/www; ' +
        'echo published-page > /tmp/www/index.html; exec httpd -f -p 80 -h /tmp/www',
    ];
    const pub = await run('acme', 'pub', 'web', 0, { command: page, restart: 'always', publish: [{ hostPort: 8080, port: 80 }] });
    await waitAddr(pub);
    const fetchFrom = (ip: string) => out.exec('curl', ['-s', '-m', '3', `http://${ip}:8080/`]).stdout;
    await c.waitFor(() => fetchFrom(c.h.node(0).underlayIp).includes('published-page'), 60_000, 'published port on node0');
    const dup = await c.api('POST', '/v1/tenants/acme/containers', {
      name: 'pub2',
      image: 'busybox',
      networks: ['web'],
      node: 'node0',
      publish: [{ hostPort: 8080, port: 80 }],
    });
    expect([dup.status, dup.body.code]).toEqual([409, 'port_in_use']);
    // the update path: `container set` publishes another port on the running container (the list given replaces the old one)
    const set = await c.ctl(['container', 'set', 'acme/pub', '--publish', '8080:80', '--publish', '8090:80']);
    expect(set.status, set.stderr).toBe(0);
    expect(set.stdout).toContain('8090->80/tcp');
    const fetchAt = (ip: string, port: number) => out.exec('curl', ['-s', '-m', '3', `http://${ip}:${port}/`]).stdout;
    await c.waitFor(() => fetchAt(c.h.node(0).underlayIp, 8090).includes('published-page'), 60_000, 'port published by PATCH on node0');
    // another container of node0 asking for 8080 through the update path: 409 port_in_use, nothing written
    await ok('POST', '/v1/tenants/acme/containers', {
      name: 'pub4',
      image: 'busybox',
      networks: ['web'],
      node: 'node0',
      command: DHCP_CMD,
    });
    const taken = await c.ctl(['container', 'set', 'acme/pub4', '--publish', '8080:80']);
    expect(taken.status).not.toBe(0);
    expect(taken.stderr).toContain('port_in_use');
    expect((await ok('GET', '/v1/tenants/acme/containers/pub4')).publish).toEqual([]);
    await ok('DELETE', '/v1/tenants/acme/containers/pub4');
    const unrouted = await c.api('POST', '/v1/tenants/acme/containers', {
      name: 'pub3',
      image: 'busybox',
      networks: ['island'],
      publish: [{ hostPort: 8081, port: 80 }],
    });
    expect([unrouted.status, unrouted.body.path]).toEqual([400, 'publish']);
    // node0 dies (its agent and containers with it: on one test machine a container still running
    // there would hold the netns name the rescheduled one needs) and is deleted: the container is
    // rescheduled to node1, and its published port with it
    await c.killAgent(0);
    reapContainers(c.stateDir(0));
    expect((await c.api('DELETE', '/v1/nodes/node0')).status).toBe(204);
    await c.waitFor(async () => (await c.api('GET', '/v1/tenants/acme/containers/pub')).body.node === 'node1', 60_000, 'rescheduled');
    await c.waitFor(() => fetchFrom(c.h.node(1).underlayIp).includes('published-page'), 180_000, 'published port on node1');
    expect(fetchAt(c.h.node(1).underlayIp, 8090)).toContain('published-page');
  }, 600_000);
});
