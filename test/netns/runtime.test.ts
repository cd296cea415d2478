import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViewContainer, ViewEndpoint, ViewNetwork } from '../../protocol/view.js';
import { importImage } from '../../node-agent/runtime/images.js';
import { nspawnLockPath } from '../../node-agent/runtime/nspawn-lock.js';
import type { ContainerState } from '../../node-agent/runtime/state.js';
import { SKIP_REASON, isRoot, sh } from '../support/netns.js';
import { Harness, viewsFor, type DataplaneProc } from './harness.js';
import { Driver, cleanupState, container, desired, endpoint, network, stateWithBusybox } from './runtime-support.js';

const canRun = isRoot && existsSync('/usr/bin/systemd-nspawn') && existsSync('/bin/busybox');
if (!canRun) console.warn(`runtime tests skipped: ${isRoot ? 'systemd-nspawn or busybox-static missing' : SKIP_REASON}`);

const VNI = 100;
const net = network(VNI);
const short = (id: string) => id.replace(/-/g, '').slice(0, 8);
const netnsList = () => sh('ip', ['netns', 'list']);
const mounted = (state: string, id: string) => readFileSync('/proc/self/mountinfo', 'utf8').includes(`${state}/containers/${id}/rootfs`);
const nspawnCount = (id: string) =>
  spawnSync('pgrep', ['-c', '-f', `^systemd-nspawn .*--machine=frc-${short(id)}`], { encoding: 'utf8' }).stdout.trim();
const ping = (c: ViewContainer, ip: string) =>
  spawnSync('ip', ['netns', 'exec', `frc-${short(c.id)}`, 'ping', '-c', '2', '-i', '0.2', '-W', '2', ip], { encoding: 'utf8' });
/** busybox command: static address, a line on stdout, then sleep */
const serve = (ip: string) => ['sh', '-c', `ip addr add ${ip}/24 dev eth0 && echo hello-from-${ip} && exec sleep 1000000`];

describe.skipIf(!canRun)('container runtime on two nodes', () => {
  // two node namespaces on an underlay, each with the real dataplane (bridge, vxlan, FDB, neigh)
  let h: Harness;
  let dps: DataplaneProc[] = [];
  let nodes: { a: string; b: string };
  let stateA = '';
  let stateB = '';
  let drvA: Driver;
  let drvB: Driver;
  const c1 = container('c1', serve('10.77.0.11'));
  const c2 = container('c2', serve('10.77.0.12'));
  let e1: ViewEndpoint;
  let e2: ViewEndpoint;
  let viewA: { containers: ViewContainer[]; endpoints: ViewEndpoint[] };

  const applyA = () => drvA.apply(desired(viewA.containers, viewA.endpoints, [net]));

  /** The dataplane's side of the same view: networks, endpoints (FDB/neigh to the other node). */
  const applyDataplane = async (nets: ViewNetwork[], eps: ViewEndpoint[]) => {
    const views = viewsFor(
      h,
      nets,
      eps.map((e) => ({ ...e, nodeIndex: e.node === nodes.a ? 0 : 1 })),
    );
    for (const [i, v] of views.entries()) {
      const r = await dps[i].apply(v);
      expect(r.errors, JSON.stringify(r.errors)).toEqual([]);
    }
  };

  beforeAll(async () => {
    h = await Harness.create({ nodes: 2 });
    nodes = { a: h.node(0).ns, b: h.node(1).ns };
    dps = [await h.startDataplane(0), await h.startDataplane(1)];
    stateA = stateWithBusybox();
    stateB = sh('mktemp', ['-d', '/tmp/freight-rt-XXXXXX']).trim();
    await importImage(stateB, 'busybox', `${stateA}/images/busybox`);
    e1 = endpoint(c1, net, '10.77.0.11', '02:00:00:77:00:11', nodes.a);
    e2 = endpoint(c2, net, '10.77.0.12', '02:00:00:77:00:12', nodes.b);
    viewA = { containers: [c1], endpoints: [e1] };
    await applyDataplane([net], [e1, e2]);
    [drvA, drvB] = await Promise.all([Driver.start(nodes.a, stateA), Driver.start(nodes.b, stateB)]);
  });

  afterAll(async () => {
    await Promise.all([drvA?.kill(), drvB?.kill()]);
    cleanupState(stateA);
    cleanupState(stateB);
    h?.cleanup();
  });

  it('runs a busybox container per node, wired into the network bridge, and they ping each other', async () => {
    await Promise.all([applyA(), drvB.apply(desired([c2], [e2], [net]))]);
    await drvA.waitStatus(c1.id, (s) => s.state === 'running');
    await drvB.waitStatus(c2.id, (s) => s.state === 'running');
    expect(netnsList()).toContain(`frc-${short(c1.id)}`);
    // container end: eth0 with the allocated MAC and the network MTU; host end in frb-100, up
    const eth0 = sh('ip', ['-n', `frc-${short(c1.id)}`, '-o', 'link', 'show', 'eth0']);
    expect(eth0).toContain('mtu 1450');
    expect(eth0).toContain('02:00:00:77:00:11');
    expect(eth0).toMatch(/[<,]UP[,>]/);
    const host = sh('ip', ['-o', 'link', 'show', `frh-${short(c1.id)}0`], { ns: nodes.a });
    expect(host).toContain(`master frb-${VNI}`);
    expect(host).toContain('mtu 1450');
    // as the agent does: the dataplane keeps the port in its bridge from now on
    await dps[0].send({ cmd: 'attach', ifname: `frh-${short(c1.id)}0`, network: net.id });
    await dps[1].send({ cmd: 'attach', ifname: `frh-${short(c2.id)}0`, network: net.id });
    // the command inside set the address (CAP_NET_ADMIN granted): wait for it, then ping across nodes
    await expect.poll(() => ping(c1, '10.77.0.12').status, { timeout: 10_000, interval: 300 }).toBe(0);
    expect(ping(c2, '10.77.0.11').status).toBe(0);
  });

  it('returns the container output as logs', async () => {
    await expect.poll(() => drvA.call<string>('logs', { id: c1.id, tail: 20 }), { timeout: 5000 }).toContain('hello-from-10.77.0.11');
  });

  it('stops (netns, veth, overlay released) and starts again, keeping its writable layer', async () => {
    // the container writes through its overlay: the write stays in its upper dir, the shared image is untouched
    writeFileSync(`${stateA}/containers/${c1.id}/rootfs/root/marker`, 'kept');
    c1.desired = 'stopped';
    await applyA();
    await drvA.waitStatus(c1.id, (s) => s.state === 'stopped');
    expect(netnsList()).not.toContain(`frc-${short(c1.id)}`);
    expect(sh('ip', ['-o', 'link', 'show'], { ns: nodes.a })).not.toContain(`frh-${short(c1.id)}`);
    expect(mounted(stateA, c1.id)).toBe(false);
    expect(nspawnCount(c1.id)).toBe('0');
    c1.desired = 'running';
    await applyA();
    await drvA.waitStatus(c1.id, (s) => s.state === 'running');
    await expect.poll(() => ping(c1, '10.77.0.12').status, { timeout: 10_000, interval: 300 }).toBe(0);
    expect(readFileSync(`${stateA}/containers/${c1.id}/rootfs/root/marker`, 'utf8')).toBe('kept');
    expect(existsSync(`${stateA}/images/busybox/root/marker`)).toBe(false);
  });

  it('a restarted runtime adopts the running container: same pid, no duplicate', async () => {
    const before = await drvA.call<ContainerState>('state', { id: c1.id });
    await drvA.kill();
    expect(nspawnCount(c1.id)).toBe('1'); // the container outlived its runtime
    drvA = await Driver.start(nodes.a, stateA);
    await drvA.waitStatus(c1.id, (s) => s.state === 'running');
    await applyA(); // the same view again: nothing to do
    const after = await drvA.call<ContainerState>('state', { id: c1.id });
    expect(after.nspawnPid).toBe(before.nspawnPid);
    expect(after.wrapperPid).toBe(before.wrapperPid);
    expect(nspawnCount(c1.id)).toBe('1');
    expect(ping(c1, '10.77.0.12').status).toBe(0);
    // a policy change is not a restart
    c1.restart = 'on-failure';
    await applyA();
    expect((await drvA.call<ContainerState>('state', { id: c1.id })).nspawnPid).toBe(before.nspawnPid);
    // and the adopted container is still supervised: its command killed → noticed, restarted by the policy
    const stubInit = readFileSync(`/proc/${before.nspawnPid}/task/${before.nspawnPid}/children`, 'utf8').trim().split(' ')[0];
    const payload = readFileSync(`/proc/${stubInit}/task/${stubInit}/children`, 'utf8').trim().split(' ')[0];
    process.kill(Number(payload), 'SIGKILL');
    await drvA.waitStatus(c1.id, (s) => s.restarts === 1 && s.state === 'running');
    const restarted = await drvA.call<ContainerState>('state', { id: c1.id });
    expect(restarted.nspawnPid).not.toBe(before.nspawnPid);
    await expect.poll(() => ping(c1, '10.77.0.12').status, { timeout: 10_000, interval: 300 }).toBe(0);
    expect(nspawnCount(c1.id)).toBe('1'); // (counted once started: nspawn forks before its child execs)
  });

  it('defers a container whose network bridge does not exist yet, and starts it once it does (eth0 + eth1)', async () => {
    const net2 = network(101, '10.76.0.0/24', 1400);
    const late = container('late', ['sleep', '1000000']);
    const eLate0 = endpoint(late, net, '10.77.0.5', '02:00:00:77:00:05', nodes.a, 0);
    const eLate = endpoint(late, net2, '10.76.0.5', '02:00:00:76:00:05', nodes.a, 1);
    await drvA.apply(desired([c1, late], [e1, eLate0, eLate], [net, net2]));
    const s = await drvA.waitStatus(late.id, (x) => x.state === 'pending');
    expect(s.reason).toMatch(/bridge frb-101 of network net-101 not present yet/);
    expect(netnsList()).not.toContain(`frc-${short(late.id)}`);
    await applyDataplane([net, net2], [e1, e2, eLate]); // the dataplane catches up: frb-101 appears
    const r = await drvA.waitStatus(late.id, (x) => x.state === 'running', 10_000);
    expect(r.restarts).toBe(0); // a retry is not a restart
    // one veth per endpoint: eth<ifindex> inside with its MAC and its network's MTU, frh-<8><ifindex> in its bridge
    expect(sh('ip', ['-o', 'link', 'show', `frh-${short(late.id)}0`], { ns: nodes.a })).toContain(`master frb-${VNI}`);
    expect(sh('ip', ['-o', 'link', 'show', `frh-${short(late.id)}1`], { ns: nodes.a })).toContain('master frb-101');
    const eth1 = sh('ip', ['-n', `frc-${short(late.id)}`, '-o', 'link', 'show', 'eth1']);
    expect(eth1).toContain('02:00:00:76:00:05');
    expect(eth1).toContain('mtu 1400');
    await applyA();
    await applyDataplane([net], [e1, e2]);
  });

  it('reports a missing image and a missing command as failed while the others keep running', async () => {
    const noImage = container('noimage', ['true'], { image: 'nope' });
    const noCmd = container('nocmd', ['/bin/does-not-exist']);
    viewA.containers.push(noImage, noCmd);
    viewA.endpoints.push(
      endpoint(noImage, net, '10.77.0.21', '02:00:00:77:00:21', nodes.a),
      endpoint(noCmd, net, '10.77.0.22', '02:00:00:77:00:22', nodes.a),
    );
    await applyA();
    const s1 = await drvA.waitStatus(noImage.id, (s) => s.state === 'failed');
    expect(s1.reason).toMatch(/image nope not found/);
    const s2 = await drvA.waitStatus(noCmd.id, (s) => s.state === 'failed');
    expect(s2.reason).toMatch(/execv\(\/bin\/does-not-exist\) failed: No such file or directory/);
    expect(drvA.statuses.get(c1.id)?.state).toBe('running');
    expect(ping(c1, '10.77.0.12').status).toBe(0);
    // failed starts leave nothing behind
    expect(netnsList()).not.toContain(`frc-${short(noImage.id)}`);
    expect(mounted(stateA, noCmd.id)).toBe(false);
    viewA.containers = [c1];
    viewA.endpoints = [e1];
    await applyA();
  });

  it('restart policy on-failure restarts a failing command with growing delays; never does not', async () => {
    const flaky = container('flaky', ['sh', '-c', 'echo run; exit 3'], { restart: 'on-failure' });
    const once = container('once', ['sh', '-c', 'exit 4'], { restart: 'never' });
    viewA.containers.push(flaky, once);
    await applyA();
    const st = await drvA.waitStatus(flaky.id, (s) => s.restarts >= 3, 20_000);
    // when each run started: the first 'running' status of each restart count
    const seen: Array<{ restarts: number; t: number }> = [];
    for (const { t, status } of drvA.history) {
      if (status.id === flaky.id && status.state === 'running' && seen[seen.length - 1]?.restarts !== status.restarts)
        seen.push({ restarts: status.restarts, t });
    }
    expect(seen.map((x) => x.restarts).slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(st.exitCode === 3 || st.state === 'running').toBe(true);
    // backoff 300, 600, 1200 ms (driver config): restart n comes at least 300·2^(n-1) ms after the one
    // before (load can only lengthen the gaps, so a fixed delay could not pass the later bounds)
    const gaps = seen.slice(1).map((x, i) => x.t - seen[i].t);
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    gaps.slice(0, 3).forEach((g, i) => expect(g).toBeGreaterThanOrEqual(0.9 * 300 * 2 ** i));
    expect((await drvA.call<string>('logs', { id: flaky.id, tail: 100 })).match(/^run$/gm)?.length).toBeGreaterThanOrEqual(3);
    const o = await drvA.waitStatus(once.id, (s) => s.state === 'exited');
    expect(o.exitCode).toBe(4);
    await new Promise((r) => setTimeout(r, 800));
    expect(drvA.statuses.get(once.id)?.restarts).toBe(0);
    viewA.containers = [c1];
    await applyA();
  });

  it('a container whose nspawn was SIGKILLed leaves no lock file or propagation directory in /run once the runtime releases it', async () => {
    c1.restart = 'never';
    await applyA();
    await drvA.waitStatus(c1.id, (s) => s.state === 'running');
    const st = await drvA.call<ContainerState>('state', { id: c1.id });
    const lock = await nspawnLockPath(`${stateA}/containers/${c1.id}/rootfs`);
    expect(lock !== null && existsSync(lock)).toBe(true); // nspawn's, while it runs
    expect(existsSync(`/run/systemd/nspawn/propagate/frc-${short(c1.id)}`)).toBe(true);
    // as terminate() does past the grace period: nspawn and its child, which cannot unlink the lock then
    const stubInit = Number(readFileSync(`/proc/${st.nspawnPid}/task/${st.nspawnPid}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(stubInit, 'SIGKILL');
    process.kill(st.nspawnPid!, 'SIGKILL');
    await drvA.waitStatus(c1.id, (s) => s.state !== 'running');
    expect(mounted(stateA, c1.id)).toBe(false);
    expect(existsSync(lock!)).toBe(false);
    expect(existsSync(`/run/systemd/nspawn/propagate/frc-${short(c1.id)}`)).toBe(false);
  });

  it('delete removes the process, netns, veth, overlay and the container directory', async () => {
    viewA.containers = [];
    viewA.endpoints = [];
    await applyA();
    await drvB.apply(desired([], [], [net]));
    for (const [c, state, node] of [
      [c1, stateA, nodes.a],
      [c2, stateB, nodes.b],
    ] as const) {
      expect(nspawnCount(c.id)).toBe('0');
      expect(netnsList()).not.toContain(`frc-${short(c.id)}`);
      expect(sh('ip', ['-o', 'link', 'show'], { ns: node })).not.toContain(`frh-${short(c.id)}`);
      expect(mounted(state, c.id)).toBe(false);
      expect(existsSync(`${state}/containers/${c.id}`)).toBe(false);
    }
    expect(await drvA.call<unknown[]>('status')).toEqual([]);
  });
});
