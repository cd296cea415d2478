/**
 * Components of RPM images end to end (issue 22): an image built with `--packages` from two
 * small RPMs (over a busybox base), a container on it; `container packages` lists both from the
 * container's own rpm database (read on its node); a newer build of one RPM in a package
 * repository of the tenant makes `container outdated` name it and its repository; `image build
 * --from-image … --update` on the admin's machine builds V2 with it; `container upgrade` runs V2
 * with the same address and `outdated` is empty. The node removes V1 after the grace period and
 * keeps V2; a package signed by an unregistered key is reported, not trusted; after `image repo
 * remove` of the only key that signed the image, a new container of it fails naming the key, the
 * running one keeps running with a status saying so, and the audit log records the key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../images/pgp-key.js';
import { exportPublicKey } from '../../images/sign.js';
import { buildComponentRpm, haveTools, makeKey, stopAgents } from '../images/support.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot } from '../support/netns.js';
import { busyboxImage, Cluster, DHCP_CMD, ROOT } from './cluster.js';
import { serveRepo } from './repo-server.js';

const REPO_IP = '198.18.0.252';
const BASE = `http://${REPO_IP}:8080/`;
const CTL = path.join(ROOT, 'dist/controller/cli/main.js');
const missing = !isRoot ? 'not root' : haveTools();
if (missing) console.warn(`skipping RPM components end-to-end test: ${missing}`);

type Key = { keyId: string; gnupgHome: string };

describe.skipIf(missing)('RPM image components end to end: packages, outdated, rebuild, upgrade, housekeeping, key removal', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let tmp: string;
  let server: ChildProcess | undefined;
  let trusted: Key;
  let stranger: Key;
  let trustedId: string;
  let strangerId: string;
  const dir = (d: string) => path.join(tmp, 'www', d);
  let app: { id: string; ip: string };

  async function ctl(args: string[]): Promise<any> {
    const r = await c.ctl(['--json', ...args]);
    if (r.status !== 0) throw new Error(`freightctl ${args.join(' ')}: ${r.status} ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  }
  /** freightctl on an admin machine in the underlay: it reaches the controller and the repositories directly. */
  function adminCtl(args: string[]): Promise<any> {
    return new Promise((resolve, reject) => {
      const p = spawn(
        'ip',
        [
          'netns',
          'exec',
          c.h.underlay,
          process.execPath,
          CTL,
          '--url',
          c.controllerUrl,
          '--ca',
          c.caFile,
          '--token',
          c.adminToken,
          '--json',
          ...args,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      p.stderr.on('data', (d: Buffer) => (err += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
      p.on('close', (status) => {
        clearTimeout(timer);
        if (status !== 0) reject(new Error(`freightctl ${args.join(' ')}: ${status} ${err}`));
        else resolve(JSON.parse(out));
      });
    });
  }
  /** A node-backed read: the agent's stream may be reconnecting on a loaded machine, so node_unavailable is retried. */
  async function fromNode(args: string[]): Promise<any> {
    for (let i = 0; ; i++) {
      try {
        return await ctl(args);
      } catch (e) {
        if (i >= 15 || !/node_unavailable/.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }
  const sign = (rpm: string, k: Key) => ctl(['image', 'sign', rpm, '--key-id', k.keyId, '--gnupg-home', k.gnupgHome]);
  const publish = (d: string, rpms: string[], k: Key = trusted) =>
    ctl(['image', 'publish', dir(d), ...rpms, '--key-id', k.keyId, '--gnupg-home', k.gnupgHome]);
  const show = (name: string) => ctl(['container', 'show', `acme/${name}`]);
  const outdated = () => fromNode(['container', 'outdated', 'acme/app']);
  const tenantRoot = () => path.join(c.stateDir(0), 'rpm-images', 'acme');
  const payload = (v: string) => path.join(tenantRoot(), 'var/lib/freight/image-payload/app', v);
  const rootfsFile = (id: string, file: string) =>
    readFile(path.join(c.stateDir(0), 'containers', id, 'rootfs', file), 'utf8').catch(() => '');

  beforeAll(async () => {
    tmp = await mkdirTmp();
    trusted = await makeKey(tmp, 'images@freight.invalid');
    stranger = await makeKey(tmp, 'stranger@freight.invalid');
    const armored = await exportPublicKey(trusted);
    const strangerArmored = await exportPublicKey(stranger);
    trustedId = keyIdOf(armored);
    strangerId = keyIdOf(strangerArmored);
    await writeFile(path.join(tmp, 'key.asc'), armored);
    await writeFile(path.join(tmp, 'stranger.asc'), strangerArmored);
    db = await freshDatabase('freight_packages_e2e');
    process.env.FREIGHT_REPO_ALLOW_CIDR = `${REPO_IP}/32`;
    // the agents remove image versions no container uses after 3 s
    process.env.FREIGHT_IMAGE_GC_GRACE = '3';
    c = await Cluster.start({ nodes: 1, databaseUrl: db.url });
    for (const d of ['images', 'packages', 'mirror']) await mkdir(dir(d), { recursive: true });
    // two small signed RPMs → app:1 (--packages, over a busybox base for its shell and DHCP client)
    const rpms = [await buildComponentRpm(tmp, 'alpha', '1.0'), await buildComponentRpm(tmp, 'beta', '1.0')];
    for (const r of rpms) await sign(r, trusted);
    const out = path.join(tmp, 'out');
    const bb = await ctl(['image', 'build', 'busybox', '--version', '1', '--from', busyboxImage(), '--out', out]);
    const a1 = await ctl(['image', 'build', 'app', '--version', '1', '--packages', ...rpms, '--base', 'busybox:1', '--out', out]);
    expect(a1.components.map((x: any) => `${x.name}-${x.version}-${x.release}`)).toEqual(['alpha-1.0-1', 'beta-1.0-1']);
    await sign(bb.rpm, trusted);
    await sign(a1.rpm, trusted);
    await publish('images', [bb.rpm, a1.rpm]);
    server = await serveRepo(c, path.join(tmp, 'www'), REPO_IP);
    await ctl(['tenant', 'create', 'acme']);
    await ctl(['network', 'create', 'acme/net', '--cidr', '10.0.0.0/24']);
    await ctl(['image', 'repo', 'add', 'acme', 'main', `${BASE}images/`, '--allow-http', '--key', path.join(tmp, 'key.asc')]);
  }, 240_000);

  afterAll(async () => {
    delete process.env.FREIGHT_REPO_ALLOW_CIDR;
    delete process.env.FREIGHT_IMAGE_GC_GRACE;
    server?.kill('SIGKILL');
    c?.stop();
    await db?.drop();
    if (tmp) {
      await stopAgents(tmp);
      await rm(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('lists the packages of the container’s root from its own rpm database, with versions and signing key', async () => {
    const r = await ctl(['container', 'run', 'acme/app', '--network', 'net', '--image', 'app:1', '--node', 'node0', '--', ...DHCP_CMD]);
    app = { id: r.id, ip: r.endpoints[0].ip };
    await c.waitFor(() => c.addressOf(app.id) === app.ip, 60_000, 'app on app:1 with its address');
    const p = await fromNode(['container', 'packages', 'acme/app']);
    expect(p).toMatchObject({ container: 'app', image: 'app:1', invalid: 0, truncated: false });
    expect(p.items).toEqual([
      { name: 'alpha', epoch: 0, version: '1.0', release: '1', arch: 'noarch', key: trustedId },
      { name: 'beta', epoch: 0, version: '1.0', release: '1', arch: 'noarch', key: trustedId },
    ]);
    expect(await outdated()).toEqual([]);
  }, 90_000);

  it('names the component with a newer version in a package repository of the tenant, and the repository', async () => {
    const alpha11 = await buildComponentRpm(tmp, 'alpha', '1.1');
    await sign(alpha11, trusted);
    await publish('packages', [alpha11]);
    await ctl(['package-repo', 'add', 'acme', 'updates', `${BASE}packages/`, '--allow-http', '--key', path.join(tmp, 'key.asc')]);
    expect(await ctl(['package-repo', 'list', 'acme'])).toMatchObject([{ name: 'updates', url: `${BASE}packages/` }]);
    expect(await outdated()).toEqual([
      { name: 'alpha', arch: 'noarch', current: '1.0-1', newest: '1.1-1', repository: 'updates', trusted: true, image: null },
    ]);
  }, 60_000);

  it('image build --from-image app:1 --update builds app:2 with the newer component; outdated says app:2 has it', async () => {
    const built = await adminCtl([
      'image',
      'build',
      'app',
      '--version',
      '2',
      '--from-image',
      'app:1',
      '--update',
      '--tenant',
      'acme',
      '--out',
      path.join(tmp, 'out2'),
    ]);
    expect(built.updated).toEqual([{ name: 'alpha', from: '1.0-1', to: '1.1-1', repository: 'updates' }]);
    expect(built.manifest).toMatchObject({ name: 'app', version: '2', base: { name: 'busybox', version: '1' } });
    expect(built.components.map((x: any) => `${x.name}-${x.version}-${x.release}`)).toEqual(['alpha-1.1-1', 'beta-1.0-1']);
    await sign(built.rpm, trusted);
    await publish('images', [built.rpm]);
    expect(await outdated()).toEqual([
      { name: 'alpha', arch: 'noarch', current: '1.0-1', newest: '1.1-1', repository: 'updates', trusted: true, image: 'app:2' },
    ]);
    // image outdated: the container's image has a newer version, and its recorded components an update
    const io = await ctl(['image', 'outdated', 'acme']);
    expect(io).toMatchObject([{ container: 'app', name: 'app', current: '1', newest: '2' }]);
    expect(io[0].components).toEqual([
      { name: 'alpha', arch: 'noarch', current: '1.0-1', newest: '1.1-1', repository: 'updates', trusted: true, image: 'app:2' },
    ]);
  }, 180_000);

  it('container upgrade runs app:2 with the same address; outdated is then empty; the node removes app:1 after the grace period', async () => {
    const up = await ctl(['container', 'upgrade', 'acme/app']);
    expect(up.image).toBe('app:2');
    expect(up.endpoints[0].ip).toBe(app.ip);
    await c.waitFor(
      async () => (await rootfsFile(app.id, 'usr/share/alpha/version')) === '1.1-1\n' && c.addressOf(app.id) === app.ip,
      60_000,
      'app on app:2 with its address',
    );
    expect((await show('app')).observedState).toBe('running');
    expect((await fromNode(['container', 'packages', 'acme/app'])).items.map((p: any) => `${p.name}-${p.version}-${p.release}`)).toEqual([
      'alpha-1.1-1',
      'beta-1.0-1',
    ]);
    expect(await outdated()).toEqual([]);
    // two versions were installed; only app:2 (and its base) stay
    await c.waitFor(() => !existsSync(payload('1')), 60_000, 'app:1 removed by the node');
    expect(existsSync(path.join(payload('2'), 'rootfs/usr/share/alpha/version'))).toBe(true);
    expect(existsSync(path.join(tenantRoot(), 'var/lib/freight/image-payload/busybox/1/rootfs/bin/busybox'))).toBe(true);
    const names = await readdir(path.join(tenantRoot(), 'var/lib/freight/image-payload/app'));
    expect(names).toEqual(['2']);
  }, 120_000);

  it('reports a newer package signed by a key the tenant has not registered, without trusting it', async () => {
    const beta2 = await buildComponentRpm(tmp, 'beta', '2.0');
    await sign(beta2, stranger);
    await publish('packages', [beta2]);
    const o = await outdated();
    expect(o).toHaveLength(1);
    expect(o[0]).toMatchObject({ name: 'beta', current: '1.0-1', newest: '2.0-1', repository: 'updates', trusted: false, image: null });
    expect(o[0].reason).toContain(strangerId.slice(-8));
  }, 60_000);

  it('after image repo remove of the only key that signed it, a new container of the image fails naming the key; the running one is reported', async () => {
    // a mirror of the same signed RPMs, registered with another key: the controller still offers app:2
    for (const f of await readdir(dir('images')))
      if (f.endsWith('.rpm')) await copyFile(path.join(dir('images'), f), path.join(dir('mirror'), f));
    await publish('mirror', [], stranger);
    await ctl(['image', 'repo', 'add', 'acme', 'mirror', `${BASE}mirror/`, '--allow-http', '--key', path.join(tmp, 'stranger.asc')]);
    await ctl(['image', 'repo', 'remove', 'acme/main']);
    await ctl(['container', 'run', 'acme/app2', '--network', 'net', '--image', 'app:2', '--node', 'node0', '--', ...DHCP_CMD]);
    await c.waitFor(async () => (await show('app2')).observedState === 'failed', 60_000, 'app2 refused');
    const reason = (await show('app2')).reason as string;
    expect(reason).toMatch(/image app:2 refused \(unknown_key\)/);
    expect(reason).toContain(trustedId);
    // the running container is not killed: it says why new starts would be refused
    await c.waitFor(async () => /new starts are refused/.test((await show('app')).reason ?? ''), 30_000, 'app reported');
    const a = await show('app');
    expect(a.observedState).toBe('running');
    expect(a.reason).toContain(trustedId);
    const audit = (await c.api('GET', '/v1/audit?limit=50')).body;
    const rows = (audit.items ?? audit) as any[];
    expect(rows.find((r) => r.action === 'revoke image key')?.object).toContain(`key ${trustedId} of tenant acme (image repository main)`);
  }, 120_000);
});

async function mkdirTmp(): Promise<string> {
  const { mkdtemp } = await import('node:fs/promises');
  return mkdtemp(path.join(os.tmpdir(), 'freight-packages-e2e-'));
}
