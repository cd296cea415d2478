/**
 * /metrics of the three processes, read the way Prometheus reads them and parsed by an
 * independent text-format parser (parse-prometheus-text-format, not prom-client's own):
 * the controller's app, an agent's dataplane in a node namespace, and an infra server in its
 * own namespace, scraped from the node through its unix socket.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import parse, { type Family } from 'parse-prometheus-text-format';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../controller/app.js';
import { migrate, openDb } from '../../controller/store/db.js';
import { writeConfigAtomic } from '../../infra-container/config.js';
import { sampleConfig } from '../support/infra-config.js';
import { freshDatabase } from '../support/pg.js';
import { getUnix } from '../support/unix-http.js';
import { isRoot, Namespaces, sh, SKIP_REASON, uniqueTag } from '../support/netns.js';
import { Harness, network, viewsFor, endpoint } from './harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const log = pino({ level: 'silent' });

const family = (fams: Family[], name: string): Family => {
  const f = fams.find((x) => x.name === name);
  if (!f) throw new Error(`no metric family ${name} in: ${fams.map((x) => x.name).join(', ')}`);
  return f;
};
/**
 * A histogram family with buckets and an observation. (The parser folds the buckets of labelled
 * series into one sample and drops their labels and count; label checks read the text.)
 */
function expectHistogram(fams: Family[], name: string): void {
  const f = family(fams, name);
  expect(f.type).toBe('HISTOGRAM');
  const buckets = f.metrics.find((m) => m.buckets)?.buckets ?? {};
  expect(Object.keys(buckets).length).toBeGreaterThan(5);
  expect(Number(buckets['+Inf'])).toBeGreaterThan(0);
}

describe('controller /metrics', () => {
  it('parses, with the API latency and push commit->ack histograms and the existing counters', async () => {
    const fresh = await freshDatabase();
    const db = await openDb({ databaseUrl: fresh.url });
    try {
      await migrate(db);
      const app = await buildApp({ db, log });
      try {
        await app.inject({ method: 'GET', url: '/v1/tenants' });
        await app.inject({ method: 'GET', url: '/healthz' });
        const res = await app.inject({ method: 'GET', url: '/metrics' });
        expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
        const fams = parse(res.body);
        expectHistogram(fams, 'freight_http_request_seconds');
        expect(res.body).toMatch(/^freight_http_request_seconds_count\{method="GET",route="\/v1\/tenants",status_class="4xx"\} 1$/m);
        expect(family(fams, 'freight_push_commit_to_ack_seconds').type).toBe('HISTOGRAM');
        for (const name of [
          'freight_http_requests_total',
          'freight_audit_dropped_total',
          'freight_push_revoked_closes_total',
          'freight_push_ack_timeouts_total',
          'freight_push_overflow_drops_total',
        ]) {
          expect(family(fams, name).type).toBe('COUNTER');
        }
        expect(family(fams, 'freight_push_agents_connected').type).toBe('GAUGE');
      } finally {
        await app.close();
      }
    } finally {
      await db.close();
      await fresh.drop();
    }
  });
});

describe.skipIf(!isRoot)('agent and infra /metrics (namespaces)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('agent: the dataplane registry parses, with the netlink apply histogram and node labels', async () => {
    const h = await Harness.create({ nodes: 1 });
    cleanups.push(() => h.cleanup());
    const dp = await h.startDataplane(0);
    const net = network({ id: 'net-m', vni: 321 });
    await dp.apply(viewsFor(h, [net], [endpoint('m0', 'net-m', 0, '02:00:00:00:0b:00', '10.0.0.10')])[0]);
    const fams = parse((await dp.send({ cmd: 'metrics' })).text as string);
    expectHistogram(fams, 'freight_dataplane_apply_seconds');
    const applies = family(fams, 'freight_dataplane_applies_total');
    expect(applies.type).toBe('COUNTER');
    expect(applies.metrics[0]).toMatchObject({ labels: { node: 'node0' }, value: '1' });
    expect(family(fams, 'freight_nft_drops_total').type).toBe('COUNTER');
  });

  it('infra: served on a unix socket the node reaches although the server runs in another network namespace', async () => {
    const ns = new Namespaces();
    const name = ns.add(`frm-${uniqueTag()}`);
    const dir = mkdtempSync(path.join(tmpdir(), 'fr-metrics-'));
    let server: ChildProcess | undefined;
    cleanups.push(() => {
      server?.kill('SIGKILL');
      ns.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    const configFile = path.join(dir, 'infra.json');
    await writeConfigAtomic(configFile, sampleConfig({ revision: 1 }));
    const socket = path.join(dir, 'run', 'metrics.sock');
    sh('mkdir', ['-p', path.dirname(socket)]);
    let out = '';
    server = spawn(
      'ip',
      [
        'netns',
        'exec',
        name,
        process.execPath,
        '--import',
        'tsx',
        'infra-container/main.ts',
        '--config',
        configFile,
        '--no-dhcp',
        '--listen',
        '127.0.0.1',
        '--dns-port',
        '5353',
        '--metrics-socket',
        socket,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout?.on('data', (d) => (out += d));
    server.stderr?.on('data', (d) => (out += d));
    const t0 = Date.now();
    while (!(out.includes('freight-infra ready') && exists(socket)) && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(exists(socket)).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    // one answered query inside the namespace
    const dig = spawnSync(
      'ip',
      ['netns', 'exec', name, 'dig', '@127.0.0.1', '-p', '5353', '+time=1', '+tries=2', '+short', 'web.net.t1.freight.internal'],
      { encoding: 'utf8' },
    );
    expect(dig.stdout.trim()).toBe('10.77.0.10');
    // from the node (this process, the root namespace): no route into the server's namespace, but the socket
    const fams = parse(await getUnix(socket, '/metrics'));
    expectHistogram(fams, 'freight_infra_dns_answer_seconds');
    expect(family(fams, 'freight_infra_dhcp_answer_seconds').type).toBe('HISTOGRAM');
    expect(family(fams, 'freight_infra_dns_packets').metrics[0].value).toBe('1');
    expect(family(fams, 'freight_infra_dns_rcode_NOERROR').type).toBe('COUNTER');
  });
});
if (!isRoot) describe('agent and infra /metrics', () => it.skip(SKIP_REASON, () => {}));

function exists(p: string): boolean {
  try {
    return statSync(p).isSocket();
  } catch {
    return false;
  }
}
