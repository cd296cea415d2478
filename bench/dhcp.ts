/**
 * DHCP benchmark: perfdhcp (4-way exchanges, static reservations only)
 * against our server, Kea (memfile, same reservations) and dnsmasq
 * (dhcp-host reservations), one after another on the same veth between two
 * namespaces made here. For each: the same rates (fixed steps, then doubling,
 * then bisection) until more than 2.5 % of DISCOVERs or REQUESTs go
 * unanswered, so each server is driven to its own knee; the best leases/s
 * within that bound counts. Passes at ≥ 1× Kea, ≥ 10× dnsmasq and no NAK.
 * Ends with one JSON line.
 *   npx tsx bench/dhcp.ts [--period 2] [--clients 1000] [--rounds 2] [--max-rate 256000] [--threads single|multi]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeConfigAtomic } from '../infra-container/config.js';
import { sampleConfig } from '../test/support/infra-config.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const PERIOD = arg('period', 2);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : ['ours', 'kea', 'dnsmasq'];
const CLIENTS = arg('clients', 1000);
/**
 * perfdhcp -g, the same for every server. 'single' by default: on this 2-core machine perfdhcp's
 * receiver thread (its 'multi' default) competes with the server for the second core, and perfdhcp's
 * own socket overflowed first (knee ~10k/s for ours and Kea alike); single-threaded it takes one core.
 */
const THREADS = process.argv.includes('--threads') ? process.argv[process.argv.indexOf('--threads') + 1] : 'single';
/** Fixed first steps; past the last, rates double up to MAX_RATE until one is over the bound. */
const RATES = [100, 250, 500, 1000, 2000, 4000, 8000];
const MAX_RATE = arg('max-rate', 256_000);
/** Bisection stops when the bad rate is within this fraction above the good one. */
const BISECT = 0.05;
const ROUNDS = arg('rounds', 2);
const MAX_DROP = 2.5;
const TARGET_KEA = 1;
const TARGET_DNSMASQ = 10;
const ROOT = path.resolve(import.meta.dirname, '..');
const tag = process.pid.toString(36);
const S = `frbh-${tag}-s`;
const C = `frbh-${tag}-c`;
const ZONE = 'net.t1.freight.internal';
const dir = mkdtempSync(path.join(tmpdir(), 'fr-bench-dhcp-'));
const procs = new Set<ChildProcess>();

function sh(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout + r.stderr;
}

function cleanup(): void {
  for (const p of procs) p.kill('SIGKILL');
  for (const ns of [S, C]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}

function startIn(ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let err = '';
  p.stderr?.on('data', (d) => (err = (err + d).slice(-2000)));
  p.on('exit', (code) => code && code !== 0 && procs.has(p) && console.error(`${cmd} exited ${code}: ${err}`));
  procs.add(p);
  return p;
}

async function stop(p: ChildProcess): Promise<void> {
  procs.delete(p);
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
  p.kill('SIGKILL');
}

interface Step {
  rate: number;
  leasesPerSec: number;
  dropOffer: number;
  dropAck: number;
  rejected: number;
}

/** UDP receive-buffer overflows in a namespace: tells server-side drops from client-side ones. */
function rcvbufErrors(ns: string): number {
  const lines = sh('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [head, vals] = lines.map((l) => l.split(/\s+/));
  return Number(vals[head.indexOf('RcvbufErrors')]);
}

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
}

function perfdhcp(rate: number): Step {
  const out = sh(
    'ip',
    [
      'netns',
      'exec',
      C,
      'perfdhcp',
      '-4',
      '-l',
      'eth0',
      '-r',
      String(rate),
      '-p',
      String(PERIOD),
      '-R',
      String(CLIENTS),
      '-M',
      path.join(dir, 'macs'),
      '-g',
      THREADS,
    ],
    true,
  );
  const sections = out.split('***Statistics for: ');
  const stat = (name: string, key: string): number => {
    const s = sections.find((x) => x.startsWith(name)) ?? '';
    return Number(new RegExp(`${key}:\\s+([\\d.]+)`).exec(s)?.[1] ?? NaN);
  };
  return {
    rate,
    leasesPerSec: stat('REQUEST-ACK', 'received packets') / PERIOD,
    dropOffer: stat('DISCOVER-OFFER', 'drops ratio'),
    dropAck: stat('REQUEST-ACK', 'drops ratio'),
    rejected: stat('DISCOVER-OFFER', 'rejected leases') + stat('REQUEST-ACK', 'rejected leases'),
  };
}

/**
 * The next rate to try: the fixed steps, then doubling until a rate is over the drop bound, then
 * bisection between the best good rate and the lowest bad one until they are within BISECT.
 */
function nextRate(tried: number, good: number, bad: number): number | null {
  if (bad === Infinity) {
    const fixed = RATES.find((r) => r > tried);
    return fixed ?? (tried * 2 <= MAX_RATE ? tried * 2 : null);
  }
  if (good === 0 || bad - good <= good * BISECT) return null;
  return Math.round((good + bad) / 2);
}

async function ramp(name: string, launch: () => ChildProcess): Promise<{ best: number; rejected: number }> {
  if (!only.includes(name)) return { best: NaN, rejected: 0 };
  const p = launch();
  await new Promise((r) => setTimeout(r, name === 'ours' ? 2500 : 1000));
  perfdhcp(100); // warm-up and liveness
  let best = 0;
  let rejected = 0;
  let good = 0;
  let bad = Infinity;
  for (let rate: number | null = RATES[0]; rate !== null; rate = nextRate(rate, good, bad)) {
    const before = [rcvbufErrors(S), rcvbufErrors(C), cpuSeconds(p.pid), performance.now()];
    const s = perfdhcp(rate);
    const overflow = `rcvbuf overflows server ${rcvbufErrors(S) - before[0]} client ${rcvbufErrors(C) - before[1]}`;
    // the server's share of a core over the perfdhcp run: on 2 cores what it uses, perfdhcp does not get
    const cpu = `server cpu ${(((cpuSeconds(p.pid) - before[2]) * 1e5) / (performance.now() - before[3])).toFixed(0)} %`;
    rejected += s.rejected || 0;
    const ok = s.dropOffer <= MAX_DROP && s.dropAck <= MAX_DROP;
    console.log(
      `${name.padEnd(8)} rate ${String(rate).padStart(6)}/s  leases/s ${s.leasesPerSec.toFixed(0).padStart(6)}  drops offer ${s.dropOffer.toFixed(2)} % ack ${s.dropAck.toFixed(2)} %  rejected ${s.rejected}  ${overflow}  ${cpu}${ok ? '' : '  (over the drop bound)'}`,
    );
    if (ok) {
      best = Math.max(best, s.leasesPerSec);
      good = Math.max(good, rate);
    } else bad = Math.min(bad, rate);
  }
  await stop(p);
  return { best, rejected };
}

async function setup(): Promise<void> {
  sh('ip', ['netns', 'add', S]);
  sh('ip', ['netns', 'add', C]);
  sh('ip', ['-n', S, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', C]);
  sh('ip', ['-n', S, 'addr', 'add', '10.78.0.2/16', 'dev', 'eth0']);
  sh('ip', ['-n', C, 'addr', 'add', '10.78.255.1/16', 'dev', 'eth0']);
  for (const ns of [S, C]) for (const l of ['lo', 'eth0']) sh('ip', ['-n', ns, 'link', 'set', l, 'up']);
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  const bindings = Array.from({ length: CLIENTS }, (_, i) => ({
    mac: `02:10:00:00:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`,
    ip: `10.78.${1 + Math.floor(i / 200)}.${(i % 200) + 10}`,
    name: `c${i}`,
  }));
  const base = sampleConfig();
  await writeConfigAtomic(path.join(dir, 'infra.json'), {
    ...base,
    network: { ...base.network, cidr: '10.78.0.0/16', gateway: null },
    server: { ...base.server, ip: '10.78.0.2' },
    bindings,
  });
  writeFileSync(path.join(dir, 'macs'), bindings.map((b) => b.mac).join('\n') + '\n');
  writeFileSync(path.join(dir, 'dnsmasq-hosts'), bindings.map((b) => `${b.mac},${b.ip}`).join('\n') + '\n');
  const kea = {
    Dhcp4: {
      'interfaces-config': { interfaces: ['eth0'] },
      'lease-database': { type: 'memfile', persist: false },
      'valid-lifetime': 3600,
      'host-reservation-identifiers': ['hw-address'],
      'option-data': [
        { name: 'domain-name-servers', data: '10.78.0.2' },
        { name: 'domain-name', data: ZONE },
        { name: 'domain-search', data: ZONE },
        { name: 'interface-mtu', data: '1450' },
      ],
      subnet4: [
        {
          id: 1,
          subnet: '10.78.0.0/16',
          'reservations-out-of-pool': true,
          reservations: bindings.map((b) => ({ 'hw-address': b.mac, 'ip-address': b.ip })),
        },
      ],
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: path.join(dir, 'kea.log') }], severity: 'WARN' }],
    },
  };
  writeFileSync(path.join(dir, 'kea.json'), JSON.stringify(kea));
}

async function main(): Promise<void> {
  await setup();
  const launch = {
    ours: () =>
      startIn(S, process.execPath, [
        // e.g. BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (node refuses --cpu-prof in NODE_OPTIONS)
        ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
        '--import',
        'tsx',
        'infra-container/main.ts',
        '--config',
        path.join(dir, 'infra.json'),
        '--dns-port',
        '5399',
        '--log-level',
        'warn',
      ]),
    kea: () => startIn(S, 'kea-dhcp4', ['-c', path.join(dir, 'kea.json')], { KEA_LOCKFILE_DIR: dir, KEA_PIDFILE_DIR: dir }),
    dnsmasq: () =>
      startIn(S, 'dnsmasq', [
        '-k',
        '--user=root',
        '--pid-file',
        '--port=0',
        '--interface=eth0',
        '--bind-interfaces',
        '--dhcp-range=10.78.0.0,static,255.255.0.0,1h',
        `--dhcp-hostsfile=${path.join(dir, 'dnsmasq-hosts')}`,
        `--dhcp-leasefile=${path.join(dir, 'dnsmasq.leases')}`,
        '--dhcp-lease-max=100000',
        '--dhcp-authoritative',
        '--log-facility=/dev/null',
        '--dhcp-option=option:mtu,1450',
        `--dhcp-option=option:domain-search,${ZONE}`,
        `--domain=${ZONE}`,
      ]),
  };
  // the machine is shared: interleave the servers over rounds and keep each one's best
  const best = { ours: 0, kea: 0, dnsmasq: 0 };
  let naks = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of ['ours', 'kea', 'dnsmasq'] as const) {
      const r = await ramp(name, launch[name]);
      best[name] = Math.max(best[name], r.best || 0);
      if (name === 'ours') naks += r.rejected;
    }
  }
  const rKea = best.ours / best.kea;
  const rDnsmasq = best.dnsmasq > 0 ? best.ours / best.dnsmasq : null;
  console.log(
    `leases/s at <= ${MAX_DROP} % drops, best of ${ROUNDS} rounds: ours ${best.ours.toFixed(0)}, kea ${best.kea.toFixed(0)} (ratio ${rKea.toFixed(2)}, target ${TARGET_KEA}), dnsmasq ${best.dnsmasq.toFixed(0)} (ratio ${rDnsmasq?.toFixed(2) ?? 'n/a: never within the drop bound'}, target ${TARGET_DNSMASQ}); our NAKs/rejected ${naks}`,
  );
  console.log(
    JSON.stringify({
      bench: 'dhcp',
      metric: 'leases_per_sec',
      value: Math.round(best.ours),
      baseline: Math.round(best.kea),
      ratio: Number(rKea.toFixed(3)),
      target: TARGET_KEA,
      baseline_dnsmasq: Math.round(best.dnsmasq),
      ratio_dnsmasq: rDnsmasq === null ? null : Number(rDnsmasq.toFixed(3)),
      target_dnsmasq: TARGET_DNSMASQ,
      naks,
      // a baseline never within the bound measured nothing: no ratio, no pass
      pass: rKea >= TARGET_KEA && rDnsmasq !== null && rDnsmasq >= TARGET_DNSMASQ && naks === 0,
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
