/**
 * Routing throughput bench on the real cluster (controller, two agents, busybox containers).
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres npx tsx bench/routing.ts [--seconds 3] [--rounds 3]
 *
 * Baseline (same run): iperf3, one TCP stream, between two containers of ONE network on two
 * nodes (bridged over vxlan). Measured: between containers of TWO networks of one router on two
 * nodes (routed on the source node, one underlay crossing), target ≥ 0.9× the baseline; and a
 * container's egress to an "outside" namespace through SNAT against the routed figure, target
 * ≥ 0.9×. Best of the rounds for each. Ends with ONE JSON line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Cluster, DHCP_CMD } from '../test/netns/cluster.js';
import { Outside, OUTSIDE_IP } from '../test/netns/outside.js';
import { freshDatabase } from '../test/support/pg.js';

const TARGET = 0.9;
const { values: opt } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' } } });

async function iperf(serverNs: string, clientNs: string, ip: string, seconds: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-B', ip], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50; i++) {
      const r = spawnSync('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', ip, '-t', String(seconds), '-J'], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      const bps = (r.stdout.trim().startsWith('{') ? JSON.parse(r.stdout) : {}).end?.sum_received?.bits_per_second as number | undefined;
      if (bps) return bps / 1e9;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`iperf3 to ${ip} never answered`);
  } finally {
    server.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const db = await freshDatabase('freight_bench_routing');
  const c = await Cluster.start({ nodes: 2, databaseUrl: db.url });
  let out: Outside | undefined;
  try {
    out = await Outside.start(c.h);
    const api = async (m: string, u: string, b?: unknown) => {
      const r = await c.api(m, u, b);
      if (r.status >= 300) throw new Error(`${m} ${u}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    await api('POST', '/v1/tenants', { name: 'bench' });
    for (const [n, cidr] of [
      ['a', '10.1.0.0/24'],
      ['b', '10.2.0.0/24'],
    ])
      await api('POST', '/v1/tenants/bench/networks', { name: n, cidr });
    await api('POST', '/v1/tenants/bench/routers', { name: 'r', external: true });
    for (const n of ['a', 'b']) await api('POST', '/v1/tenants/bench/routers/r/attach', { network: n });
    const run = async (name: string, net: string, node: number) => {
      const r = await api('POST', '/v1/tenants/bench/containers', {
        name,
        image: 'busybox',
        networks: [net],
        node: `node${node}`,
        command: DHCP_CMD,
      });
      const m = { id: r.id as string, ip: r.endpoints[0].ip as string };
      await c.waitFor(() => c.addressOf(m.id) === m.ip, 180_000, `${name} address`);
      return m;
    };
    const a1 = await run('a1', 'a', 0);
    const a2 = await run('a2', 'a', 1);
    const b1 = await run('b1', 'b', 1);
    const ns = (m: { id: string }) => c.netnsOf(m.id);
    const seconds = Number(opt.seconds);
    const best = { bridged: 0, routed: 0, egress: 0 };
    for (let i = 0; i < Number(opt.rounds); i++) {
      best.bridged = Math.max(best.bridged, await iperf(ns(a2), ns(a1), a2.ip, seconds));
      best.routed = Math.max(best.routed, await iperf(ns(b1), ns(a1), b1.ip, seconds));
      best.egress = Math.max(best.egress, await iperf(out.ns, ns(a1), OUTSIDE_IP, seconds));
    }
    const ratio = best.routed / best.bridged;
    const egressRatio = best.egress / best.routed;
    process.stdout.write(`bridged ${best.bridged.toFixed(2)} Gbit/s, routed ${best.routed.toFixed(2)}, egress ${best.egress.toFixed(2)}\n`);
    process.stdout.write(
      JSON.stringify({
        bench: 'routing',
        metric: 'routed_vs_bridged_tcp_gbps',
        value: Number(best.routed.toFixed(3)),
        baseline: Number(best.bridged.toFixed(3)),
        ratio: Number(ratio.toFixed(3)),
        target: TARGET,
        egress: {
          metric: 'snat_egress_vs_routed_tcp_gbps',
          value: Number(best.egress.toFixed(3)),
          ratio: Number(egressRatio.toFixed(3)),
          target: TARGET,
        },
        pass: ratio >= TARGET && egressRatio >= TARGET,
      }) + '\n',
    );
  } finally {
    out?.stop();
    c.stop();
    await db.drop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/routing: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
