/**
 * A hostile tenant against the node's container runtime: real systemd-nspawn, the real runtime in a
 * node namespace (runtime-driver.ts), real cgroups. Each case is an attack that must fail.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViewContainer } from '../../protocol/view.js';
import { NetlinkGateway } from '../../node-agent/kernel/netlink.js';
import { createContainer, deleteContainer, startContainer, type ExecContext } from '../../node-agent/runtime/executor.js';
import { containerPaths } from '../../node-agent/runtime/paths.js';
import type { ContainerSpec } from '../../node-agent/runtime/spec.js';
import type { ContainerState } from '../../node-agent/runtime/state.js';
import { saveView } from '../../node-agent/session/store.js';
import { emptyView } from '../../protocol/view.js';
import { Namespaces, SKIP_REASON, isRoot, sh, uniqueTag } from '../support/netns.js';
import { Driver, cleanupState, container, desired, endpoint, network, stateWithBusybox } from './runtime-support.js';

const canRun = isRoot && existsSync('/usr/bin/systemd-nspawn') && existsSync('/bin/busybox');
if (!canRun) console.warn(`hostile runtime tests skipped: ${isRoot ? 'systemd-nspawn or busybox-static missing' : SKIP_REASON}`);

const VNI = 4242;
const net = network(VNI, '10.79.0.0/24');
const short = (id: string) => id.replace(/-/g, '').slice(0, 8);
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
const MiB = 1024 * 1024;

/** Children of a pid, from /proc. */
const kids = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
/** The host uid a process runs as (the kernel translates into the reader's namespace: the node's). */
const hostUid = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1]);
/** [first host uid, count] of uid 0 inside. */
const uidRange = (pid: number): [number, number] => {
  const [inside, outside, count] = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
  expect(inside).toBe(0);
  return [outside, count];
};
/** The container's cgroup for a v1 controller, or its v2 cgroup (above nspawn's `payload`, where the limits are). */
const cgroupOf = (pid: number, controller: string): string => {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
  const dir = v1 ? `/sys/fs/cgroup/${controller}${v1.split(':')[2]}` : `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::'))!.slice(3)}`;
  return dir.replace(/\/payload(\/.*)?$/, '');
};

describe.skipIf(!canRun)('a hostile tenant against the container runtime', () => {
  const nss = new Namespaces();
  let node = '';
  let state = '';
  let drv: Driver;
  const ip = (n: number) => `10.79.0.${n}`;
  const serve = (n: number) => ['sh', '-c', `ip addr add ${ip(n)}/24 dev eth0 && exec sleep 1000000`];
  const pingFromNode = (n: number) =>
    spawnSync('ip', ['netns', 'exec', node, 'ping', '-c', '1', '-W', '1', ip(n)], { encoding: 'utf8' }).status === 0;
  const st = (c: ViewContainer) => drv.call<ContainerState>('state', { id: c.id });
  /** The container's PID 1 (nspawn's child) and the payload (PID 2 under --as-pid2). */
  const procs = async (c: ViewContainer) => {
    const s = await st(c);
    expect(s.nspawnPid, `${c.name}: ${JSON.stringify(s)} ${await drv.call<string>('logs', { id: c.id })}`).toBeTruthy();
    for (let i = 0; i < 100; i++) {
      const pid1 = kids(s.nspawnPid!)[0];
      const payload = pid1 ? kids(pid1)[0] : undefined;
      if (pid1 && payload) return { pid1, payload };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${c.name}: no payload process`);
  };
  let containers: ViewContainer[] = [];
  let eps: ReturnType<typeof endpoint>[] = [];
  const run = async (c: ViewContainer, n?: number) => {
    containers.push(c);
    if (n !== undefined) eps.push(endpoint(c, net, ip(n), `02:00:00:79:00:${n.toString(16).padStart(2, '0')}`, node));
    await drv.apply(desired(containers, eps, [net]));
  };
  const remove = async (...cs: ViewContainer[]) => {
    containers = containers.filter((c) => !cs.includes(c));
    eps = eps.filter((e) => !cs.some((c) => c.id === e.owner));
    await drv.apply(desired(containers, eps, [net]));
  };

  beforeAll(async () => {
    node = nss.add(`frhn-${uniqueTag()}`);
    sh('ip', ['-n', node, 'link', 'add', `frb-${VNI}`, 'type', 'bridge']);
    sh('ip', ['-n', node, 'addr', 'add', `${ip(1)}/24`, 'dev', `frb-${VNI}`]);
    sh('ip', ['-n', node, 'link', 'set', `frb-${VNI}`, 'up']);
    state = stateWithBusybox();
    // an executable whose path is the attack: `--bind=/:/host` run as a command is /--bind=/:/host/
    const probeDir = join(state, 'images/busybox/--bind=/:');
    mkdirSync(probeDir, { recursive: true });
    // `#!/bin/sh --`: the kernel passes the script's path to the interpreter, which must not parse it either
    writeFileSync(
      join(probeDir, 'host'),
      '#!/bin/sh --\necho "argv0=$0 argv1=$1" > /probe.out\nawk \'$5 == "/host"\' /proc/self/mountinfo | wc -l >> /probe.out; cat /proc/self/mountinfo >> /probe.out\nls /host >> /probe.out 2>&1\nexec sleep 1000000\n',
    );
    chmodSync(join(probeDir, 'host'), 0o755);
    drv = await Driver.start(node, state);
  });

  afterAll(async () => {
    if (drv) {
      containers = [];
      eps = [];
      await drv.apply(desired([], [], [net])).catch(() => {});
      await drv.close();
    }
    cleanupState(state);
    nss.cleanup();
  });

  it("a command that reads as nspawn options is the container's own argv: nothing of the host is mounted", async () => {
    const c = container('probe', ['--bind=/:/host', '--capability=all']);
    await run(c);
    await drv.waitStatus(c.id, (s) => s.state === 'running');
    const out = join(containerPaths(state, c.id).upper, 'probe.out');
    for (let i = 0; i < 100 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    const text = existsSync(out)
      ? readFileSync(out, 'utf8')
      : `no probe output; log: ${await drv.call<string>('logs', { id: c.id })} ${JSON.stringify(drv.statuses.get(c.id))}`;
    expect(text).toContain('argv0=--bind=/:/host argv1=--capability=all');
    expect(text.split('\n')[1]).toBe('0'); // no /host mount
    expect(text).toMatch(/No such file or directory/);
    // no mount of the host's root filesystem anywhere in the container (the device of the node's /)
    const hostRootDev = readFileSync('/proc/1/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => f[4] === '/')![2];
    const mounts = text
      .split('\n')
      .slice(2)
      .map((l) => l.split(' '))
      .filter((f) => f.length > 5);
    expect(mounts.length).toBeGreaterThan(3);
    // but nspawn's own two: the host's os-release and its (empty, read-only) propagation directory
    // (which of them sit on the root device depends on the node: /run may be a tmpfs)
    const own = new Set(['/run/host/incoming', '/run/host/os-release']);
    expect(mounts.filter((f) => f[2] === hostRootDev && !own.has(f[4])).map((f) => f[4])).toEqual([]);
    // and the probe holds no capability beyond the container's set (CapEff of its namespace root, not all)
    const { payload } = await procs(c);
    expect(readFileSync(`/proc/${payload}/status`, 'utf8')).not.toMatch(/^CapEff:\s+000001ffffffffff$/m);
    await remove(c);
  });

  it('root inside is an unprivileged uid range on the node, a different one for every container', async () => {
    const a = container('uid-a', serve(11));
    const b = container('uid-b', serve(12));
    await run(a, 11);
    await run(b, 12);
    await drv.waitStatus(a.id, (s) => s.state === 'running');
    await drv.waitStatus(b.id, (s) => s.state === 'running');
    const pa = await procs(a);
    const pb = await procs(b);
    for (const pid of [pa.pid1, pa.payload, pb.pid1, pb.payload]) expect(hostUid(pid)).toBeGreaterThan(65535);
    const [ra, na] = uidRange(pa.payload);
    const [rb, nb] = uidRange(pb.payload);
    expect(hostUid(pa.payload)).toBe(ra);
    expect(ra + na <= rb || rb + nb <= ra).toBe(true);
    // the overlay upper layer is the container's range (chowned once), the shared image stays root's
    expect(statSync(join(containerPaths(state, a.id).upper, 'bin')).uid).toBe(ra);
    expect(statSync(join(state, 'images/busybox/bin')).uid).toBe(0);
    // networking still works: the veths nspawn moved in carry the allocated MAC, MTU, and answer
    expect(sh('ip', ['-n', `frc-${short(a.id)}`, '-o', 'link', 'show', 'eth0'])).toContain('02:00:00:79:00:0b');
    expect(pingFromNode(11) && pingFromNode(12)).toBe(true);
    await remove(a, b);
  });

  it('a memory hog is OOM-killed at its limit and reported `oom` (and restarted on-failure) while its neighbour answers ping', async () => {
    const neighbour = container('neighbour', serve(21));
    const hog = container('hog', ['sh', '-c', 'tail /dev/zero'], {
      restart: 'on-failure',
      limits: { memory: 32 * MiB, cpus: null, pids: 1024 },
    });
    await run(neighbour, 21);
    await drv.waitStatus(neighbour.id, (s) => s.state === 'running');
    // the defaults apply to a container that asked for none: 512 MiB (the kernel's limit of its cgroup)
    const mem = cgroupOf((await procs(neighbour)).pid1, 'memory');
    const memFile = existsSync(join(mem, 'memory.limit_in_bytes')) ? 'memory.limit_in_bytes' : 'memory.max';
    expect(readFileSync(join(mem, memFile), 'utf8').trim()).toBe(String(512 * MiB));
    const t0 = Date.now();
    await run(hog);
    const killed = await drv.waitStatus(hog.id, (s) => s.state === 'failed', 30_000);
    expect(killed.reason).toBe('oom');
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(pingFromNode(21)).toBe(true);
    await drv.waitStatus(hog.id, (s) => s.restarts >= 1 && s.reason === 'oom', 30_000);
    expect(drv.statuses.get(neighbour.id)?.state).toBe('running');
    expect(pingFromNode(21)).toBe(true);
    await remove(hog, neighbour);
  });

  it('a fork bomb stops at the pids limit', async () => {
    // the inner shell forks until the kernel refuses; the outer one reports and stays (exec needs no fork)
    const bomb = container('bomb', ['sh', '-c', 'sh -c "while :; do sleep 1000000 & done"; echo bomb-stopped rc=$?; exec sleep 1000000'], {
      limits: { memory: 256 * MiB, cpus: 0.5, pids: 40 },
    });
    await run(bomb);
    await drv.waitStatus(bomb.id, (s) => s.state === 'running');
    for (let i = 0; i < 100 && !(await drv.call<string>('logs', { id: bomb.id })).includes('bomb-stopped'); i++)
      await new Promise((r) => setTimeout(r, 100));
    const { pid1 } = await procs(bomb);
    const dir = cgroupOf(pid1, 'pids');
    const current = Number(readFileSync(join(dir, 'pids.current'), 'utf8'));
    expect(current).toBeLessThanOrEqual(40);
    expect(current).toBeGreaterThan(20);
    expect(readFileSync(join(dir, 'pids.max'), 'utf8').trim()).toBe('40');
    const cpu = cgroupOf(pid1, 'cpu');
    const quota = readFileSync(join(cpu, existsSync(join(cpu, 'cpu.cfs_quota_us')) ? 'cpu.cfs_quota_us' : 'cpu.max'), 'utf8').trim();
    expect(quota).toMatch(/^50000( 100000)?$/); // cpus 0.5
    const log = await drv.call<string>('logs', { id: bomb.id, tail: 400 });
    expect(log).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(log).toContain('bomb-stopped rc=2');
    expect(drv.statuses.get(bomb.id)?.state).toBe('running');
    await remove(bomb);
    expect(existsSync(dir)).toBe(false); // cgroups removed with the container
  });

  it('state files that hold a command, environment or keys are 0600 in 0700 directories', async () => {
    const c = container('modes', ['sh', '-c', 'echo secret-in-output; exec sleep 1000000']);
    await run(c);
    await drv.waitStatus(c.id, (s) => s.state === 'running');
    const p = containerPaths(state, c.id);
    expect([mode(state), mode(join(state, 'containers')), mode(p.dir), mode(p.state), mode(p.log)]).toEqual([
      '700',
      '700',
      '700',
      '600',
      '600',
    ]);
    await remove(c);
    const agentState = mkdtempSync('/tmp/freight-view-');
    try {
      chmodSync(agentState, 0o755);
      await saveView(agentState, emptyView('n1', '198.18.0.1'));
      expect([mode(agentState), mode(join(agentState, 'view.json'))]).toEqual(['700', '600']);
    } finally {
      rmSync(agentState, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!canRun)('a host directory bound into a container', () => {
  it('root inside cannot write a root-owned file or directory of the host', async () => {
    const state = stateWithBusybox();
    const host = mkdtempSync('/tmp/freight-bind-');
    writeFileSync(join(host, 'root-owned'), 'original\n');
    chmodSync(host, 0o755);
    const gw = NetlinkGateway.open();
    const ctx: ExecContext = {
      stateDir: state,
      gw,
      log: pino({ level: 'silent' }),
      now: Date.now,
      graceMs: 2000,
      backoff: { baseMs: 100, capMs: 100, stableMs: 1000 },
    };
    const spec: ContainerSpec = {
      ...container('binder', ['sh', '-c', 'echo pwned >> /h/root-owned; echo rc1=$?; touch /h/new; echo rc2=$?; id -u']),
      interfaces: [],
      binds: [{ host, container: '/h', readOnly: false }],
      limits: { memory: 64 * MiB, cpus: null, pids: 64 },
    };
    try {
      let s = await startContainer(ctx, await createContainer(ctx, spec));
      expect(s.phase).toBe('running');
      for (let i = 0; i < 100 && spawnSync('kill', ['-0', String(s.wrapperPid)]).status === 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      const log = readFileSync(containerPaths(state, spec.id).log, 'utf8');
      expect(log).toMatch(/rc1=1/);
      expect(log).toMatch(/rc2=1/);
      expect(log).toMatch(/^0$/m); // it was root inside
      expect(readFileSync(join(host, 'root-owned'), 'utf8')).toBe('original\n');
      expect(existsSync(join(host, 'new'))).toBe(false);
      s = { ...s };
      await deleteContainer(ctx, s);
    } finally {
      gw.close();
      cleanupState(state);
      rmSync(host, { recursive: true, force: true });
    }
  });
});
