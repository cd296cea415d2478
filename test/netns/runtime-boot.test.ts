/**
 * Whole OS trees booted with systemd (-b), the built-in freight-infra image (host Node.js and
 * the project bound read-only), and the busybox image's udhcpc script against a real DHCP server. The Debian tree comes from debootstrap once and is cached in
 * /var/cache/freight-test; without debootstrap (or a mirror) the boot test skips, saying so.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage } from '../../node-agent/runtime/images.js';
import type { ContainerState } from '../../node-agent/runtime/state.js';
import { Namespaces, SKIP_REASON, isRoot, sh, uniqueTag } from '../support/netns.js';
import { Driver, PROJECT, cleanupState, container, desired, endpoint, network, stateWithBusybox } from './runtime-support.js';

const CACHE = '/var/cache/freight-test';
const TREE = join(CACHE, 'debian-bookworm');
const canRun = isRoot && existsSync('/usr/bin/systemd-nspawn');
if (!canRun) console.warn(`runtime boot tests skipped: ${isRoot ? 'systemd-nspawn missing' : SKIP_REASON}`);

/** The cached Debian tree, built by debootstrap when missing; null (with the reason) when it cannot be. */
function debianTree(): { tree: string | null; why: string } {
  if (existsSync(join(TREE, 'usr/lib/systemd/systemd'))) return { tree: TREE, why: '' };
  if (spawnSync('which', ['debootstrap']).status !== 0)
    return { tree: null, why: 'debootstrap not installed (apt-get install debootstrap)' };
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${TREE}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const r = spawnSync(
    'debootstrap',
    ['--variant=minbase', '--include=systemd,systemd-sysv,iproute2', 'bookworm', tmp, 'http://deb.debian.org/debian'],
    {
      encoding: 'utf8',
      timeout: 240_000,
    },
  );
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    return { tree: null, why: `debootstrap failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).slice(-500)}` };
  }
  sh('mv', [tmp, TREE]);
  return { tree: TREE, why: '' };
}

describe.skipIf(!canRun)('booted and infra containers', () => {
  const nss = new Namespaces();
  const tag = uniqueTag();
  const net = network(200, '10.78.0.0/24', 1450);
  let node = '';
  let state = '';
  let drv: Driver;
  let debian: { tree: string | null; why: string } = { tree: null, why: 'not prepared' };

  beforeAll(async () => {
    node = nss.add(`frt-${tag}-n`);
    sh('ip', ['link', 'add', 'frb-200', 'type', 'bridge'], { ns: node });
    sh('ip', ['addr', 'add', '10.78.0.1/24', 'dev', 'frb-200'], { ns: node });
    sh('ip', ['link', 'set', 'frb-200', 'up'], { ns: node });
    state = stateWithBusybox();
    debian = debianTree();
    if (debian.tree) {
      await importImage(state, 'debian', debian.tree, { sanitize: true }); // debootstrap leaves /dev nodes and setuid binaries
      // a static address by systemd-networkd: the image's own network stack must use the CAP_NET_ADMIN it got
      const img = join(state, 'images/debian');
      mkdirSync(join(img, 'etc/systemd/network'), { recursive: true });
      writeFileSync(join(img, 'etc/systemd/network/eth0.network'), '[Match]\nName=eth0\n[Network]\nAddress=10.78.0.2/24\n');
      const wants = join(img, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service');
      if (!existsSync(wants)) symlinkSync('/lib/systemd/system/systemd-networkd.service', wants);
    } else {
      console.warn(`boot test skipped: ${debian.why}`);
    }
    drv = await Driver.start(node, state);
  }, 300_000);

  afterAll(async () => {
    await drv?.kill();
    cleanupState(state);
    nss.cleanup();
  });

  it('boots a Debian tree with systemd as PID 1; its networkd configures eth0; stop powers it off', async (t) => {
    if (!debian.tree) return t.skip(debian.why);
    const c = container('deb', [], { image: 'debian', boot: true });
    const ep = endpoint(c, net, '10.78.0.2', '02:00:00:78:00:02', node);
    await drv.apply(desired([c], [ep], [net]));
    await drv.waitStatus(c.id, (s) => s.state === 'running');
    await expect
      .poll(() => sh('ping', ['-c', '1', '-W', '1', '10.78.0.2'], { ns: node, allowFail: true }), { timeout: 30_000, interval: 500 })
      .toContain('1 received');
    const st = await drv.call<ContainerState>('state', { id: c.id });
    const pid1 = sh('cat', [`/proc/${st.nspawnPid}/task/${st.nspawnPid}/children`])
      .trim()
      .split(' ')[0];
    expect(readFileSync(`/proc/${pid1}/comm`, 'utf8').trim()).toBe('systemd');
    c.desired = 'stopped';
    const t0 = Date.now();
    await drv.apply(desired([c], [ep], [net]));
    const s = await drv.waitStatus(c.id, (x) => x.state === 'stopped');
    expect(Date.now() - t0).toBeLessThan(3000 + 2000); // a clean poweroff, not the SIGKILL after the grace period
    expect(s.exitCode).toBe(0);
    expect(await drv.call<string>('logs', { id: c.id, tail: 200 })).toMatch(/Power-Off|Halting system|reboot: Power down/i);
    await drv.apply(desired([], [], [net]));
  });

  it('busybox image: udhcpc and its default script configure address, route, MTU (option 26) and resolv.conf', async () => {
    const dir = join(state, 'udhcpd');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'udhcpd.conf'),
      [
        'start 10.78.0.50',
        'end 10.78.0.60',
        'interface frb-200',
        `lease_file ${dir}/leases`,
        `pidfile ${dir}/pid`,
        'static_lease 02:00:00:78:00:04 10.78.0.4',
        'option subnet 255.255.255.0',
        'option router 10.78.0.1',
        'option dns 10.78.0.1',
        'option domain freight.internal',
        'option search freight.internal',
        'option mtu 1400',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'leases'), '');
    const server = spawn('ip', ['netns', 'exec', node, '/bin/busybox', 'udhcpd', '-f', join(dir, 'udhcpd.conf')], { stdio: 'ignore' });
    try {
      const c = container('dhcp', ['sh', '-c', 'udhcpc -i eth0 -f -q -t 10 -T 1 -S && exec sleep 1000000']);
      await drv.apply(desired([c], [endpoint(c, net, '10.78.0.4', '02:00:00:78:00:04', node)], [net]));
      await drv.waitStatus(c.id, (x) => x.state === 'running');
      const ns = `frc-${c.id.replace(/-/g, '').slice(0, 8)}`;
      await expect
        .poll(() => sh('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'eth0']), { timeout: 15_000, interval: 200 })
        .toContain('10.78.0.4/24');
      expect(sh('ip', ['-n', ns, '-o', 'link', 'show', 'eth0'])).toContain('mtu 1400');
      expect(sh('ip', ['-n', ns, 'route', 'show', 'default'])).toContain('default via 10.78.0.1 dev eth0');
      const resolv = readFileSync(join(state, 'containers', c.id, 'rootfs/etc/resolv.conf'), 'utf8');
      expect(resolv).toContain('search freight.internal');
      expect(resolv).toContain('nameserver 10.78.0.1');
      await drv.apply(desired([], [], [net]));
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('runs the freight-infra skeleton with the host Node.js, the project and /etc/freight bound read-only', async () => {
    const c = container(
      'infra',
      [
        'node',
        '-e',
        [
          "const fs=require('fs');",
          `console.log('cfg=' + fs.readFileSync('/etc/freight/infra.json','utf8'));`,
          `console.log('pkg=' + JSON.parse(fs.readFileSync('${PROJECT}/package.json','utf8')).name);`,
          "try { fs.writeFileSync('/etc/freight/x', '1'); } catch (e) { console.log('ro=' + e.code); }",
        ].join(''),
      ],
      { kind: 'infra', image: 'freight-infra' },
    );
    const cfgDir = join(state, 'containers', c.id, 'etc-freight');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(join(cfgDir, 'infra.json'), '{"hello":1}');
    await drv.apply(desired([c], [endpoint(c, net, '10.78.0.3', '02:00:00:78:00:03', node)], [net]));
    const s = await drv.waitStatus(c.id, (x) => x.state === 'exited' || x.state === 'failed');
    const logs = await drv.call<string>('logs', { id: c.id, tail: 50 });
    expect(s, logs).toMatchObject({ state: 'exited', exitCode: 0 });
    expect(logs).toContain('cfg={"hello":1}');
    expect(logs).toContain('pkg=freight');
    expect(logs).toContain('ro=EROFS');
    await drv.apply(desired([], [], [net]));
  });
});
