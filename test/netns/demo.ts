/**
 * `npm run demo [-- --once]`: a 3-node Freight cluster in network namespaces on the
 * embedded database. Two tenants share 10.0.0.0/24 on their own vxlan networks; four
 * busybox containers get their addresses by DHCP from each network's infra container;
 * the demo prints the endpoints table, pings across nodes, DNS answers, and a verdict.
 * Every node also has `eth1` into a "datacenter switch" namespace, mapped as physical network
 * `datacenter`: a flat physical network puts two containers on that segment, where they reach
 * a bare-metal server namespace (192.168.10.5) that Freight does not own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster, DHCP_CMD } from './cluster.js';
import { addSwitch, mappingArgs, type Segment, type Switch } from './switch.js';

const SEGMENTS: Segment[] = [{ name: 'datacenter', servers: [{ address: '192.168.10.5/24' }] }];
const BARE_METAL = '192.168.10.5';

const once = process.argv.includes('--once');
const PLAN = [
  { tenant: 'acme', name: 'web1', node: 'node0' },
  { tenant: 'acme', name: 'web2', node: 'node1' },
  { tenant: 'globex', name: 'app1', node: 'node1' },
  { tenant: 'globex', name: 'app2', node: 'node2' },
];

const say = (s = '') => process.stdout.write(`${s}\n`);
const step = (s: string) => say(`\n== ${s}`);

async function must(c: Cluster, method: string, url: string, body?: unknown) {
  const r = await c.api(method, url, body);
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function run(c: Cluster, sw: Switch): Promise<boolean> {
  step('tenants and networks (both tenants use 10.0.0.0/24)');
  for (const t of ['acme', 'globex']) {
    await must(c, 'POST', '/v1/tenants', { name: t });
    await must(c, 'POST', `/v1/tenants/${t}/networks`, { name: 'net', type: 'vxlan', cidr: '10.0.0.0/24' });
  }
  await show(c, ['network', 'list']);
  // printed now: the console shows the containers arrive and take their addresses, live
  await showConsole(c);

  step('containers (busybox, address by DHCP)');
  const made: Made[] = [];
  for (const p of PLAN) {
    const b = await must(c, 'POST', `/v1/tenants/${p.tenant}/containers`, {
      name: p.name,
      image: 'busybox',
      networks: ['net'],
      node: p.node,
      command: DHCP_CMD,
    });
    made.push({ tenant: p.tenant, name: p.name, id: b.id, ip: b.endpoints[0].ip, mac: b.endpoints[0].mac, node: p.node });
  }
  await c.waitFor(() => made.every((m) => c.addressOf(m.id) === m.ip), 90_000, 'every container to hold its address by DHCP');
  await show(c, ['container', 'list']);

  step('endpoints: the IP/MAC → node table');
  for (const t of ['acme', 'globex']) await show(c, ['endpoints', t]);

  step('addresses inside the containers (from DHCP)');
  for (const m of made) say(`  ${m.tenant}/${m.name} on ${m.node}: eth0 ${c.addressOf(m.id)} (IPAM ${m.ip}), mtu ${mtuOf(c, m.id)}`);

  let ok = true;
  step('cross-node pings within each tenant');
  for (const [a, b] of [
    [0, 1],
    [2, 3],
  ]) {
    const r = ping(c, made[a], made[b].ip);
    ok &&= r.reached;
    say(
      `  ${r.reached ? 'ok  ' : 'FAIL'} ${made[a].tenant}/${made[a].name} (${made[a].node}) → ${made[b].name} (${made[b].node}) ${made[b].ip}: ${r.summary}`,
    );
  }

  step('isolation: the tenants share 10.0.0.0/24, never a frame');
  for (const [a, b] of [
    [0, 3],
    [3, 0],
  ]) {
    const from = made[a];
    const victim = made[b];
    const r = ping(c, from, victim.ip);
    const answeredBy = neighMac(c, from.id, victim.ip);
    const same = made.find((m) => m.tenant === from.tenant && m.ip === victim.ip);
    const isolated = answeredBy !== victim.mac && (!r.reached || answeredBy === same?.mac);
    ok &&= isolated;
    const who = r.reached ? `answered by ${answeredBy} = ${same ? `${same.tenant}/${same.name}` : '?'} (its own tenant)` : 'no reply';
    say(
      `  ${isolated ? 'ok  ' : 'FAIL'} ${from.tenant}/${from.name} → ${victim.ip} (also ${victim.tenant}/${victim.name}, ${victim.mac}): ${who}`,
    );
  }

  step('DNS from inside the containers (the infra container answers)');
  for (const m of [made[0], made[2]]) {
    const peer = made.find((x) => x.tenant === m.tenant && x !== m)!;
    const fqdn = `${peer.name}.net.${m.tenant}.freight.internal`;
    const a = dig(c, m, ['+short', fqdn]);
    const short = dig(c, m, ['+short', peer.name]);
    const ptr = dig(c, m, ['+short', '-x', peer.ip]);
    const good = a === peer.ip && short === peer.ip && ptr === `${fqdn}.`;
    ok &&= good;
    say(
      `  ${good ? 'ok  ' : 'FAIL'} ${m.tenant}/${m.name}: ${fqdn} → ${a || '(none)'}; ${peer.name} → ${short || '(none)'}; ${peer.ip} → ${ptr || '(none)'}`,
    );
  }

  ok = (await physical(c, sw)) && ok;

  step('status');
  await show(c, ['status']);
  return ok;
}

/** A flat physical network on the datacenter switch: containers on two nodes reach the bare-metal server. */
async function physical(c: Cluster, sw: Switch): Promise<boolean> {
  step('physical network: the datacenter segment (every node maps datacenter=eth1)');
  await show(c, ['node', 'show', 'node0']);
  await show(c, [
    'network',
    'create',
    'acme/dc',
    '--type',
    'physical',
    '--physical-network',
    'datacenter',
    '--cidr',
    '192.168.10.0/24',
    '--gateway',
    '192.168.10.1',
    '--pool',
    '192.168.10.100-192.168.10.199',
  ]);
  const made: Made[] = [];
  for (const [name, node] of [
    ['db1', 'node0'],
    ['db2', 'node2'],
  ]) {
    const b = await must(c, 'POST', '/v1/tenants/acme/containers', { name, image: 'busybox', networks: ['dc'], node, command: DHCP_CMD });
    made.push({ tenant: 'acme', name, id: b.id, ip: b.endpoints[0].ip, mac: b.endpoints[0].mac, node });
  }
  await c.waitFor(() => made.every((m) => c.addressOf(m.id) === m.ip), 90_000, 'the datacenter containers to hold their pool addresses');
  let ok = true;
  for (const m of made) {
    const r = ping(c, m, BARE_METAL);
    ok &&= r.reached;
    say(`  ${r.reached ? 'ok  ' : 'FAIL'} acme/${m.name} (${m.node}, ${m.ip} by DHCP) → bare-metal server ${BARE_METAL}: ${r.summary}`);
  }
  const back = c.h.exec(sw.servers[0][0], 'ping', ['-c', '3', '-i', '0.2', '-W', '1', made[1].ip]);
  ok &&= back.status === 0;
  say(
    `  ${back.status === 0 ? 'ok  ' : 'FAIL'} bare-metal server → acme/${made[1].name} ${made[1].ip}: ${back.status === 0 ? 'reached' : 'no reply'}`,
  );
  return ok;
}

interface Made {
  tenant: string;
  name: string;
  id: string;
  ip: string;
  mac: string;
  node: string;
}

function ping(c: Cluster, from: Made, ip: string): { reached: boolean; summary: string } {
  const r = c.exec(from.id, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ip]);
  const loss = /(\d+)% packet loss/.exec(r.stdout)?.[1] ?? '?';
  return { reached: r.status === 0, summary: `${r.status === 0 ? 'reached' : 'no reply'}, ${loss}% loss` };
}

function neighMac(c: Cluster, id: string, ip: string): string | undefined {
  return /lladdr (\S+)/.exec(c.exec(id, 'ip', ['neigh', 'show', ip, 'dev', 'eth0']).stdout)?.[1];
}

/** Runs freightctl and prints what it printed (its error too: the demo shows the real CLI). */
async function show(c: Cluster, args: string[]): Promise<void> {
  const r = await c.ctl(args);
  say(`$ freightctl ${args.join(' ')}`);
  say((r.stdout || r.stderr).trimEnd());
}

function mtuOf(c: Cluster, id: string): string {
  return /mtu (\d+)/.exec(c.exec(id, 'ip', ['-o', 'link', 'show', 'dev', 'eth0']).stdout)?.[1] ?? '?';
}

function dig(c: Cluster, m: Made, args: string[]): string {
  // the resolver the container got by DHCP, read from its writable layer
  const node = Number(m.node.replace('node', ''));
  let server = '10.0.0.254';
  try {
    server = /nameserver (\S+)/.exec(readFileSync(`${c.stateDir(node)}/containers/${m.id}/upper/etc/resolv.conf`, 'utf8'))?.[1] ?? server;
  } catch {
    /* not written yet: the infra address */
  }
  return c.exec(m.id, 'dig', [`@${server}`, '+time=1', '+tries=2', ...args]).stdout.trim();
}

/**
 * The web console's address (the relay on this machine's loopback into the controller's namespace)
 * and files holding the admin token and a token per tenant (0600, in the cluster's directory,
 * removed at teardown): paste one into the login form. Printed as paths, never as tokens.
 */
async function showConsole(c: Cluster): Promise<void> {
  step('web console');
  const admin = path.join(c.dir, 'console-admin-token');
  writeFileSync(admin, `${c.adminToken}\n`, { mode: 0o600 });
  say(`  console:  ${c.apiUrl}/  (TLS from the cluster's own CA: ${c.caFile})`);
  say(`  admin token file: ${admin}`);
  for (const t of ['acme', 'globex']) {
    const tok = await must(c, 'POST', '/v1/tokens', { kind: 'tenant', tenant: t });
    const file = path.join(c.dir, `console-${t}-token`);
    writeFileSync(file, `${tok.token}\n`, { mode: 0o600 });
    say(`  ${t} token file: ${file}  (sees tenant ${t} only)`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    say('npm run demo needs root: it creates network namespaces and containers.');
    process.exit(2);
  }
  say('Freight demo: 3 nodes, embedded database, 2 tenants, 4 containers on overlays, 2 on a physical network');
  let sw!: Switch;
  const c = await Cluster.start({
    nodes: 3,
    readyTimeoutMs: 180_000,
    beforeAgents: (h) => (sw = addSwitch(h, SEGMENTS)),
    agentArgs: () => mappingArgs(SEGMENTS),
  });
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    c.stop();
  };
  process.on('SIGINT', () => {
    say('\nstopping: removing containers, namespaces and processes');
    cleanup();
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });
  let ok = false;
  try {
    say(
      `controller at https://198.18.0.254:7400 (namespace ${c.h.underlay}, CA ${c.caFile}; agents joined with pinned join strings); logs in ${c.logDir}${once && !process.env.FREIGHT_KEEP_LOGS ? ' (removed at the end; FREIGHT_KEEP_LOGS=1 keeps them)' : ''}`,
    );
    ok = await run(c, sw);
    say(
      `\nverdict: ${ok ? 'PASS — addresses by DHCP, cross-node reachability within each tenant, isolation between tenants, DNS by name and address, a physical network reaching a bare-metal server' : 'FAIL — see the lines marked FAIL above'}`,
    );
    if (!once) {
      say('\nThe cluster stays up; try for example:');
      say(
        `  ip netns exec ${c.h.underlay} node dist/controller/cli/main.js --url https://198.18.0.254:7400 --ca ${c.caFile} --token ${c.adminToken} endpoints acme`,
      );
      say('Ctrl-C tears it down.');
      await new Promise(() => {});
    }
  } catch (e) {
    say(`\nverdict: FAIL — ${(e as Error).message}`);
  } finally {
    if (once || !ok) cleanup();
  }
  process.exit(ok ? 0 : 1);
}

void main();
