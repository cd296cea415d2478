/**
 * DNS benchmark: dnsperf against our server and against dnsmasq serving the
 * same records, in one namespace made here (both on its loopback), same
 * query file. Prints QPS, loss and p99 latency, ends with one JSON line.
 *   npx tsx bench/dns.ts [--seconds 6] [--names 500]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { reverseName } from '../protocol/addr.js';
import { writeConfigAtomic } from '../infra-container/config.js';
import { sampleConfig } from '../test/support/infra-config.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 6);
const NAMES = arg('names', 500);
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

  const ours = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS,
      process.execPath,
      '--import',
      'tsx',
      'infra-container/main.ts',
      '--config',
      path.join(dir, 'infra.json'),
      '--no-dhcp',
      '--dns-port',
      '5300',
      '--listen',
      '127.0.0.1',
      '--log-level',
      'warn',
    ],
    { cwd: ROOT, stdio: 'ignore' },
  );
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
  procs.push(ours, dnsmasq);
  await waitAnswer(5300);
  await waitAnswer(5301);

  // warm both (JIT, caches), then measure, alternating
  throughput(5300);
  const res = { ours: throughput(5300), dnsmasq: throughput(5301) };
  const lat = { ours: p99(5300), dnsmasq: p99(5301) };
  for (const k of ['ours', 'dnsmasq'] as const) {
    console.log(
      `${k.padEnd(8)} qps ${res[k].qps.toFixed(0).padStart(7)}  sent ${res[k].sent}  lost ${res[k].lost}  p99 ${lat[k].toFixed(3)} ms`,
    );
  }
  const ratio = res.ours.qps / res.dnsmasq.qps;
  console.log(
    JSON.stringify({
      bench: 'dns',
      metric: 'qps',
      value: Math.round(res.ours.qps),
      baseline: Math.round(res.dnsmasq.qps),
      ratio: Number(ratio.toFixed(3)),
      target: 0.5,
      p99_ms: Number(lat.ours.toFixed(3)),
      baseline_p99_ms: Number(lat.dnsmasq.toFixed(3)),
      lost: res.ours.lost,
      pass: ratio >= 0.5 && res.ours.lost === 0,
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
