/**
 * Chosen addresses and `container attach|detach` end to end on PostgreSQL: the real controller,
 * two real agents in node namespaces, busybox containers under systemd-nspawn, the real freightctl.
 * A chosen address and MAC reach the container through its own DHCP client (busybox udhcpc) from
 * the infra container; a network plugged into a running container arrives as eth1 with its
 * address by DHCP, reaches a container on another node and is named in DNS; unplugged, the
 * interface, the other node's FDB entry and the reachability are gone, and the container ran on.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DHCP_CMD } from './cluster.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot, SKIP_REASON } from '../support/netns.js';

const A_IP = '10.0.0.50';
const A_MAC = '02:aa:00:00:00:50';
const A_DB_IP = '10.1.0.60';
const DB_INFRA = '10.1.0.254';

describe.skipIf(!isRoot)('chosen addresses, container attach and detach, end to end (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let a: { id: string };
  let b: { id: string; ip: string };
  let aDbMac = '';

  const link = (id: string, dev: string) => c.exec(id, 'ip', ['-o', 'addr', 'show', 'dev', dev]);
  const addrOn = (id: string, dev: string) => /inet (\d+\.\d+\.\d+\.\d+)/.exec(link(id, dev).stdout)?.[1];
  const fdbHas = (node: number, mac: string) => c.h.exec(c.h.node(node).ns, 'bridge', ['fdb', 'show']).stdout.toLowerCase().includes(mac);
  const ping = (from: string, to: string) => c.exec(from, 'ping', ['-c', '2', '-W', '2', to]).status;
  const dig = (from: string, name: string) => c.exec(from, 'dig', [`@${DB_INFRA}`, '+time=1', '+tries=3', '+short', name]).stdout.trim();
  const startedAt = () =>
    (JSON.parse(readFileSync(path.join(c.stateDir(0), 'containers', a.id, 'state.json'), 'utf8')) as { startedAt: number }).startedAt;

  beforeAll(async () => {
    db = await freshDatabase('freight_attach');
    c = await Cluster.start({ nodes: 2, databaseUrl: db.url, logDir: process.env.FREIGHT_TEST_LOGS });
    expect((await c.api('POST', '/v1/tenants', { name: 'acme' })).status).toBe(201);
    expect((await c.api('POST', '/v1/tenants/acme/networks', { name: 'web', type: 'vxlan', cidr: '10.0.0.0/24' })).status).toBe(201);
    expect((await c.api('POST', '/v1/tenants/acme/networks', { name: 'db', type: 'vxlan', cidr: '10.1.0.0/24' })).status).toBe(201);
    // through the real freightctl: docker's --ip and --mac-address
    const run = await c.ctl([
      'container',
      'run',
      'acme/a',
      '--network',
      'web',
      '--image',
      'busybox',
      '--node',
      'node0',
      '--ip',
      A_IP,
      '--mac',
      A_MAC,
      '--',
      ...DHCP_CMD,
    ]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`web=${A_IP}`);
    a = (await c.api('GET', '/v1/tenants/acme/containers/a')).body;
    const rb = await c.api('POST', '/v1/tenants/acme/containers', {
      name: 'b',
      image: 'busybox',
      networks: ['db'],
      node: 'node1',
      command: DHCP_CMD,
    });
    expect(rb.status, JSON.stringify(rb.body)).toBe(201);
    b = { id: rb.body.id, ip: rb.body.endpoints[0].ip };
    await c.waitFor(() => c.addressOf(b.id) === b.ip, 120_000, 'the DHCP address of b');
    await c.waitFor(() => c.addressOf(a.id) === A_IP, 60_000, 'the chosen address of a by DHCP');
  }, 240_000);

  afterAll(async () => {
    c?.stop();
    await db?.drop();
  }, 60_000);

  it("the container's own DHCP client gets exactly the chosen address, on the chosen MAC", () => {
    expect(c.addressOf(a.id)).toBe(A_IP);
    expect(c.exec(a.id, 'ip', ['-o', 'link', 'show', 'dev', 'eth0']).stdout).toContain(`link/ether ${A_MAC}`);
  });

  it('attach on the running container: eth1 gets its address by DHCP, reaches b on the other node, a is named in DNS', async () => {
    const before = startedAt();
    const r = await c.ctl(['container', 'attach', 'acme/a', 'db', '--ip', A_DB_IP]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`attached to network db: ${A_DB_IP}`);
    const shown = (await c.api('GET', '/v1/tenants/acme/containers/a')).body;
    aDbMac = shown.endpoints.find((e: { network: string }) => e.network === 'db').mac;
    await c.waitFor(() => addrOn(a.id, 'eth1') === A_DB_IP, 60_000, 'eth1 address by DHCP');
    expect(c.exec(a.id, 'ip', ['-o', 'link', 'show', 'dev', 'eth1']).stdout).toContain(`link/ether ${aDbMac}`);
    // the address came from the network's infra container: the agent logs the DHCP answer once the
    // address is on the link, so the line may land just after the address shows
    const agentLog = () => readFileSync(path.join(c.logDir, 'agent-node0.log'), 'utf8');
    await c.waitFor(() => /plugged interface configured by DHCP/.test(agentLog()), 10_000, 'the DHCP answer in the agent log');
    await c.waitFor(() => fdbHas(1, aDbMac), 20_000, "a's db MAC in node1's FDB");
    expect(ping(a.id, b.ip)).toBe(0);
    expect(ping(b.id, A_DB_IP)).toBe(0);
    await c.waitFor(() => dig(b.id, 'a.db.acme.freight.internal') === A_DB_IP, 10_000, 'a resolving in db');
    expect(dig(a.id, 'b.db.acme.freight.internal')).toBe(b.ip); // over eth1, from db's infra
    // hot-plugged: the same run, eth0 kept its address
    expect(startedAt()).toBe(before);
    expect(c.addressOf(a.id)).toBe(A_IP);
    expect((await c.api('GET', '/v1/tenants/acme/containers/a')).body).toMatchObject({ observedState: 'running', restarts: 0 });
  });

  it('a restart of the container brings eth1 back with its address by DHCP, eth0 its chosen one', async () => {
    expect((await c.ctl(['container', 'stop', 'acme/a'])).status).toBe(0);
    await c.waitFor(
      async () => (await c.api('GET', '/v1/tenants/acme/containers/a')).body.observedState === 'stopped',
      30_000,
      'a stopped',
    );
    expect((await c.ctl(['container', 'start', 'acme/a'])).status).toBe(0);
    await c.waitFor(
      () => c.addressOf(a.id) === A_IP && addrOn(a.id, 'eth1') === A_DB_IP,
      60_000,
      'eth0 and eth1 addresses after the restart',
    );
    expect(ping(b.id, A_DB_IP)).toBe(0);
  });

  it('detach: eth1 is gone, so is its FDB entry on the other node, b no longer reaches it, a runs on', async () => {
    const before = startedAt();
    const r = await c.ctl(['container', 'detach', 'acme/a', 'db']);
    expect(r.status, r.stderr).toBe(0);
    await c.waitFor(() => link(a.id, 'eth1').status !== 0, 20_000, 'eth1 removed');
    await c.waitFor(() => !fdbHas(1, aDbMac), 20_000, "a's db MAC gone from node1's FDB");
    expect(ping(b.id, A_DB_IP)).not.toBe(0);
    await c.waitFor(() => dig(b.id, 'a.db.acme.freight.internal') === '', 10_000, 'a no longer named in db');
    expect(startedAt()).toBe(before);
    expect(c.addressOf(a.id)).toBe(A_IP);
    const audit: Array<{ action: string }> = (await c.api('GET', '/v1/audit?limit=50')).body.items;
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['attach container', 'detach container']));
  });
});

if (!isRoot) describe('container attach end to end', () => it.skip(SKIP_REASON, () => {}));
