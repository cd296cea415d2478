/**
 * DNS benchmark: dnsperf against our server and against dnsmasq serving the
 * same records, in one namespace made here (both on its loopback), same
 * query file. Ours runs as the agent runs it (dist/, built here when stale),
 * twice: one process (as dnsmasq) and with --dns-workers N (N + 1 processes).
 * Prints QPS, loss and p99 latency of each, ends with one JSON line whose
 * value and ratio are the workers run's (the single-process ones beside).
 *   npx tsx bench/dns.ts [--seconds 6] [--names 500] [--workers 3]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { reverseName } from '../protocol/addr.js';
import { writeConfigAtomic } from '../infra-container/config.js';
import { sampleConfig } from '../test/support/infra-config.js';
import { newestSource } from './lib/sources.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 6);
const NAMES = arg('names', 500);
const WORKERS = arg('workers', 3);
const TARGET = 1.0;
const ROOT = path.resolve(import.meta.dirname, '..');
const NS = `frbd-${process.pid.toString(36)}`;
const ZONE = 'net.t1.freight.internal';
const dir = mkdtempSync(path.join(tmpdir(), 'fr-bench-dns-'));
const procs: ChildProcess[] = [];

function sh(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout + r.stderr;
}
const inNs = (cmd: string, args: string[], allowFail = false): string => sh('ip', ['netns', 'exec', NS, cmd, ...args], allowFail);

function cleanup(): void {
  for (const p of procs) p.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', NS]);
  rmSync(dir, { recursive: true, force: true });
}

/** The infra container as the agent runs it: dist/ (built now if missing or older than its sources); tsx is slower. */
function infraBin(): string {
  const bin = path.join(ROOT, 'dist/infra-container/main.js');
  const stale = () =>
    !existsSync(bin) ||
    statSync(bin).mtimeMs < Math.max(...['infra-container', 'protocol', 'lib'].map((d) => newestSource(path.join(ROOT, d))));
  if (stale()) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
  if (stale()) throw new Error('dist/ is older than the sources and tsc did not rebuild it');
  return bin;
}

function startOurs(port: number, workers: number): ChildProcess {
  const args = ['--config', path.join(dir, 'infra.json'), '--no-dhcp', '--dns-port', String(port), '--listen', '127.0.0.1'];
  args.push('--dns-workers', String(workers), '--log-level', 'warn', '--metrics-socket', '');
  return spawn('ip', ['netns', 'exec', NS, process.execPath, infraBin(), ...args], { cwd: ROOT, stdio: 'ignore' });
}

async function waitAnswer(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (inNs('dig', ['@127.0.0.1', '-p', String(port), '+short', '+time=1', '+tries=1', `c0.${ZONE}`], true).trim() === '10.77.0.10')
      return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server on port ${port} never answered`);
}

interface Perf {
  qps: number;
  sent: number;
  lost: number;
}
function dnsperf(port: number, extra: string[]): string {
  return inNs('dnsperf', [
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '-d',
    path.join(dir, 'queries'),
    '-c',
    '4',
    '-q',
    '64',
    '-t',
    '2',
    ...extra,
  ]);
}
function throughput(port: number): Perf {
  const out = dnsperf(port, ['-l', String(SECONDS)]);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  return { qps: num(/Queries per second:\s+([\d.]+)/), sent: num(/Queries sent:\s+(\d+)/), lost: num(/Queries lost:\s+(\d+)/) };
}
/** p99 at a fixed moderate rate, from dnsperf's per-query verbose lines. */
function p99(port: number): number {
  const out = dnsperf(port, ['-l', '2', '-Q', '3000', '-v']);
  const lat = [...out.matchAll(/^> \S+ .* ([\d.]+)$/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
  return lat.length ? lat[Math.floor(lat.length * 0.99)] * 1000 : NaN;
}

async function main(): Promise<void> {
  sh('ip', ['netns', 'add', NS]);
  inNs('ip', ['link', 'set', 'lo', 'up']);
  const bindings = Array.from({ length: NAMES }, (_, i) => ({
    mac: `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    ip: i === 0 ? '10.77.0.10' : `10.77.${1 + Math.floor(i / 200)}.${(i % 200) + 10}`,
    name: `c${i}`,
  }));
  const cfg = sampleConfig({ network: { ...sampleConfig().network, cidr: '10.77.0.0/16' }, bindings });
  await writeConfigAtomic(path.join(dir, 'infra.json'), cfg);
  writeFileSync(path.join(dir, 'hosts'), bindings.map((b) => `${b.ip} ${b.name}.${ZONE} ${b.name}`).join('\n') + '\n');
  const queries = bindings.flatMap((b, i) => [`${b.name}.${ZONE} A`, ...(i % 4 === 0 ? [`${reverseName(b.ip)} PTR`] : [])]);
  writeFileSync(path.join(dir, 'queries'), queries.join('\n') + '\n');

  const ours = startOurs(5300, 0);
  const oursN = startOurs(5302, WORKERS);
  const dnsmasq = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS,
      'dnsmasq',
      '-k',
      '--user=root',
      '--pid-file',
      '--port=5301',
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      `--addn-hosts=${path.join(dir, 'hosts')}`,
      `--local=/${ZONE}/`,
      '--cache-size=10000',
      '--log-facility=/dev/null',
    ],
    { stdio: 'ignore' },
  );
  procs.push(ours, oursN, dnsmasq);
  await waitAnswer(5300);
  await waitAnswer(5301);
  await waitAnswer(5302);

  // warm ours (JIT), then measure one after the other
  throughput(5300);
  throughput(5302);
  const runs = { ours: 5300, dnsmasq: 5301, [`ours x${WORKERS}`]: 5302 };
  const res: Record<string, Perf & { p99: number }> = {};
  for (const [k, port] of Object.entries(runs)) res[k] = { ...throughput(port), p99: 0 };
  for (const [k, port] of Object.entries(runs)) res[k].p99 = p99(port);
  for (const [k, r] of Object.entries(res)) {
    console.log(`${k.padEnd(8)} qps ${r.qps.toFixed(0).padStart(7)}  sent ${r.sent}  lost ${r.lost}  p99 ${r.p99.toFixed(3)} ms`);
  }
  const single = res.ours;
  const multi = res[`ours x${WORKERS}`];
  const base = res.dnsmasq;
  console.log(`dnsmasq is one process; "ours x${WORKERS}" is ${WORKERS} UDP worker processes and their primary (--dns-workers ${WORKERS})`);
  const ratio = multi.qps / base.qps;
  const singleRatio = single.qps / base.qps;
  console.log(`ratio: one process ${singleRatio.toFixed(3)}, ${WORKERS} workers ${ratio.toFixed(3)}`);
  console.log(
    JSON.stringify({
      bench: 'dns',
      metric: 'qps',
      value: Math.round(multi.qps),
      baseline: Math.round(base.qps),
      ratio: Number(ratio.toFixed(3)),
      target: TARGET,
      workers: WORKERS,
      p99_ms: Number(multi.p99.toFixed(3)),
      lost: multi.lost,
      single_value: Math.round(single.qps),
      single_ratio: Number(singleRatio.toFixed(3)),
      single_p99_ms: Number(single.p99.toFixed(3)),
      single_lost: single.lost,
      baseline_p99_ms: Number(base.p99.toFixed(3)),
      pass: ratio >= TARGET && multi.lost === 0,
    }),
  );
}

process.on('SIGINT', () => (cleanup(), process.exit(130)));
main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(cleanup);
