/**
 * Security groups end to end (PostgreSQL, real controller and two agents, busybox containers taking
 * their addresses by DHCP, real TCP/ICMP between containers on two nodes): allowed ports and
 * ICMP, remote groups following a membership change within 1 s, egress rules, established
 * connections across rule changes, the default group, the first packet of a new container
 * already filtered, and the agents' counters (per-rule for `sg show --stats`, drops in /metrics).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DHCP_CMD } from './cluster.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot } from '../support/netns.js';

interface Made {
  id: string;
  ip: string;
  node: number;
}
const NET = '10.20.0.0/24';
const METRICS = '127.0.0.1:9464';

describe.skipIf(!isRoot)('security groups end to end (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  const made: Record<string, Made> = {};
  const procs: ChildProcess[] = [];

  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await c.api(method, url, body);
    expect(r.status, `${method} ${url}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  };
  async function run(name: string, node: number, groups?: string[], command = DHCP_CMD): Promise<Made> {
    const body = await ok('POST', '/v1/tenants/acme/containers', {
      name,
      image: 'busybox',
      networks: ['net'],
      node: `node${node}`,
      command,
      ...(groups ? { securityGroups: groups } : {}),
    });
    return (made[name] = { id: body.id, ip: body.endpoints[0].ip, node });
  }
  const rule = (group: string, r: Record<string, unknown>) => ok('POST', `/v1/tenants/acme/security-groups/${group}/rules`, r);
  /** TCP connect from a container: true when the handshake completes. */
  const connects = (m: Made, to: Made, port: number, timeout = 2) =>
    c.exec(m.id, 'socat', ['-T', '1', '/dev/null', `TCP:${to.ip}:${port},connect-timeout=${timeout}`]).status === 0;
  const ping = (m: Made, to: Made) => c.exec(m.id, 'ping', ['-c', '2', '-W', '1', '-i', '0.2', to.ip]).status === 0;
  /** A TCP listener in a container answering every connection with a line. */
  function listen(m: Made, port: number): void {
    const p = spawn('ip', ['netns', 'exec', c.netnsOf(m.id), 'socat', `TCP-LISTEN:${port},reuseaddr,fork`, `SYSTEM:echo ${port}`], {
      stdio: 'ignore',
    });
    procs.push(p);
  }
  const metrics = (node: number) => c.h.exec(c.h.node(node).ns, 'curl', ['-s', '-m', '3', `http://${METRICS}/metrics`]).stdout;

  beforeAll(async () => {
    db = await freshDatabase('freight_sg');
    c = await Cluster.start({ nodes: 2, databaseUrl: db.url, auditMs: 1000, agentArgs: () => ['--metrics', METRICS] });
    await ok('POST', '/v1/tenants', { name: 'acme' });
    await ok('POST', '/v1/tenants/acme/networks', { name: 'net', cidr: NET });
    for (const g of ['web', 'lb', 'locked', 'quiet', 'chatty']) await ok('POST', '/v1/tenants/acme/security-groups', { name: g });
    await rule('web', { direction: 'ingress', proto: 'tcp', portMin: 8080 });
    await rule('web', { direction: 'ingress', proto: 'icmp', remoteCidr: NET });
    await rule('web', { direction: 'ingress', proto: 'tcp', portMin: 9000, remoteGroup: 'lb' });
    await rule('web', { direction: 'egress', proto: 'any' });
    // a port set, through freightctl
    const set = await c.ctl(['sg', 'rule', 'add', 'acme/web', '--ingress', '--proto', 'tcp', '--port', '7100,7200-7210']);
    expect(set.stdout, set.stderr).toMatch(/added to acme\/web: ingress tcp 7100,7200-7210 from\/to 0\.0\.0\.0\/0/);
    await rule('lb', { direction: 'egress', proto: 'any' });
    await rule('locked', { direction: 'egress', proto: 'tcp', portMin: 9999 });
    await rule('chatty', { direction: 'egress', proto: 'any' });
    await run('web1', 0, ['web']);
    await run('lb1', 1, ['lb']);
    await run('x1', 1, ['chatty']);
    await run('e1', 1, ['locked']);
    await run('d1', 0);
    await run('d2', 1);
    for (const m of Object.values(made)) await c.waitFor(() => c.addressOf(m.id) === m.ip, 180_000, `${m.id} has ${m.ip}`);
    for (const p of [8080, 8081, 9000, 7100, 7150, 7205]) listen(made.web1, p);
    listen(made.d2, 7000);
    listen(made.lb1, 7000);
    await c.waitFor(() => connects(made.x1, made.web1, 8080), 20_000, 'web1 listens');
  }, 300_000);

  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
    c?.stop();
    void db?.drop();
  });

  it('an allowed TCP port is reachable across nodes, another port of the same container is not', () => {
    expect(connects(made.x1, made.web1, 8080)).toBe(true);
    expect(connects(made.x1, made.web1, 8081)).toBe(false);
    expect(connects(made.d2, made.web1, 8081)).toBe(false);
  });

  it('a port-set rule admits every port and range of its set, and no port between them', () => {
    expect(connects(made.x1, made.web1, 7100)).toBe(true);
    expect(connects(made.x1, made.web1, 7205)).toBe(true);
    expect(connects(made.x1, made.web1, 7150)).toBe(false);
  });

  it('ICMP passes where a rule allows it, and not to a group without ingress rules', () => {
    expect(ping(made.x1, made.web1)).toBe(true);
    expect(ping(made.d1, made.lb1)).toBe(false);
  });

  it('a remote-group rule admits members, refuses others, and follows a container joining the group within 1 s', async () => {
    expect(connects(made.lb1, made.web1, 9000)).toBe(true);
    expect(connects(made.x1, made.web1, 9000)).toBe(false);
    const t0 = Date.now();
    await ok('PATCH', '/v1/tenants/acme/containers/x1', { securityGroups: ['lb'] });
    // the time from the PATCH to the start of the first attempt that got through (an attempt's own
    // process start and timeout are not the propagation)
    let began = 0;
    await c.waitFor(
      () => {
        began = Date.now();
        return connects(made.x1, made.web1, 9000, 0.2);
      },
      5000,
      'x1 reaches web1:9000 as a member of lb',
    );
    expect(began - t0).toBeLessThan(1000);
    await ok('PATCH', '/v1/tenants/acme/containers/x1', { securityGroups: ['chatty'] });
    await c.waitFor(() => !connects(made.x1, made.web1, 9000, 0.2), 2000, 'x1 refused again after leaving lb');
  });

  it('an egress rule blocks what it does not allow, and a new egress rule opens it', async () => {
    expect(connects(made.e1, made.web1, 8080)).toBe(false); // web1 admits 8080 from anywhere: egress is what blocks
    const r = await rule('locked', { direction: 'egress', proto: 'tcp', portMin: 8080 });
    await c.waitFor(() => connects(made.e1, made.web1, 8080, 0.5), 5000, 'e1 reaches web1:8080');
    await ok('DELETE', `/v1/tenants/acme/security-groups/locked/rules/${r.id}`);
    await c.waitFor(() => !connects(made.e1, made.web1, 8080, 0.5), 5000, 'e1 blocked again');
  });

  it('an established connection survives an unrelated rule change; removing its rule keeps it (new ones are refused)', async () => {
    // a long-lived connection lb1 → web1:9000 (admitted by the remote-group rule), one line per second each way
    const srv = spawn('ip', ['netns', 'exec', c.netnsOf(made.web1.id), 'socat', 'TCP-LISTEN:9001,reuseaddr', 'EXEC:cat'], {
      stdio: 'ignore',
    });
    procs.push(srv);
    const r9001 = await rule('web', { direction: 'ingress', proto: 'tcp', portMin: 9001, remoteGroup: 'lb' });
    await new Promise((res) => setTimeout(res, 1500));
    const cli = spawn('ip', ['netns', 'exec', c.netnsOf(made.lb1.id), 'socat', '-', `TCP:${made.web1.ip}:9001`], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    procs.push(cli);
    let got = '';
    cli.stdout.on('data', (d: Buffer) => (got += d.toString()));
    const echo = async (line: string) => {
      cli.stdin.write(`${line}\n`);
      await c.waitFor(() => got.includes(line), 3000, `echo of ${line}`);
    };
    await echo('before');
    await rule('web', { direction: 'ingress', proto: 'udp', portMin: 5353 }); // web1's node replaces its table
    await new Promise((res) => setTimeout(res, 1500));
    await echo('after-unrelated-change');
    await ok('DELETE', `/v1/tenants/acme/security-groups/web/rules/${r9001.id}`);
    await new Promise((res) => setTimeout(res, 1500));
    await echo('after-its-rule-removed'); // documented: conntrack keeps established flows
    expect(connects(made.lb1, made.web1, 9001)).toBe(false); // a new connection is refused
    cli.kill('SIGKILL');
  });

  it('the default group: members reach each other, non-members are refused', () => {
    expect(connects(made.d1, made.d2, 7000)).toBe(true);
    expect(connects(made.lb1, made.d2, 7000)).toBe(false);
    expect(connects(made.d2, made.lb1, 7000)).toBe(false); // lb has no ingress rule at all
  });

  it("a new container's first packet is already filtered: a listener records no SYN from it", async () => {
    // capture on web1's eth0 every TCP SYN to port 8081 (web1 admits nothing there, but a capture sees what arrives)
    const spam = (dst: string) => [
      'sh',
      '-c',
      `udhcpc -i eth0 -b -S -t 60 -T 1 -A 1 -s /usr/share/udhcpc/default.script; while :; do nc -w 1 ${dst} 8080 </dev/null; done`,
    ];
    const cap = spawn(
      'ip',
      ['netns', 'exec', c.netnsOf(made.web1.id), 'tcpdump', '-l', '-n', '-i', 'eth0', 'tcp[tcpflags] & tcp-syn != 0 and dst port 8080'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    procs.push(cap);
    let seen = '';
    cap.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    await new Promise((res) => setTimeout(res, 1000));
    // quiet has no egress rule: from its first packet, nothing but DHCP/DNS leaves it
    const q = await run('q1', 1, ['quiet'], spam(made.web1.ip));
    // the same command in a group that allows egress shows what an unfiltered start would record
    const o = await run('o1', 1, ['chatty'], spam(made.web1.ip));
    await c.waitFor(() => seen.includes(`${o.ip}.`), 60_000, 'SYNs from o1 recorded');
    await c.waitFor(() => c.addressOf(q.id) === q.ip, 60_000, 'q1 has its address');
    await new Promise((res) => setTimeout(res, 2000));
    cap.kill('SIGINT');
    expect(seen).not.toContain(`${q.ip}.`);
  });

  it('counts per rule (sg show --stats) and drops per container (agent /metrics)', async () => {
    expect(connects(made.d2, made.web1, 8081)).toBe(false);
    await c.waitFor(
      () => /freight_sg_dropped_packets_total\{[^}]*container="web1"[^}]*direction="ingress"[^}]*\} [1-9]/.test(metrics(0)),
      10_000,
      'web1 ingress drops in node0 /metrics',
    );
    const web = await ok('GET', '/v1/tenants/acme/security-groups/web');
    const r8080 = web.rules.find((r: { portMin: number }) => r.portMin === 8080);
    const stats = await ok('GET', '/v1/tenants/acme/security-groups/web/stats');
    expect(stats.rules[r8080.id].packets).toBeGreaterThan(0);
    const shown = await c.ctl(['sg', 'show', 'acme/web', '--stats']);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`${r8080.id}\\s+ingress\\s+tcp\\s+8080\\s+0\\.0\\.0\\.0/0\\s+[1-9]\\d*/[1-9]`));
  });
});
