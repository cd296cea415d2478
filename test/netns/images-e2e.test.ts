/**
 * Signed RPM images end to end (issue 10): freightctl builds, signs and publishes a
 * busybox image and a derivative into a yum repository served inside the cluster's
 * underlay; the tenant registers it; containers run on both images on two nodes and
 * reach each other; a tampered RPM and one signed by an unknown key are refused with
 * their reasons; a new version shows up in `image outdated`, and `container upgrade`
 * restarts the container on it with the same address.
 */
import type { ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPublicKey } from '../../images/sign.js';
import { haveTools, makeKey, stopAgents, tamper } from '../images/support.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot } from '../support/netns.js';
import { busyboxImage, Cluster, DHCP_CMD } from './cluster.js';
import { serveRepo } from './repo-server.js';

const REPO_IP = '198.18.0.253';
const REPO_URL = `http://${REPO_IP}:8080/`;
const missing = !isRoot ? 'not root' : haveTools();
if (missing) console.warn(`skipping RPM image end-to-end test: ${missing}`);

describe.skipIf(missing)('signed RPM images end to end: freightctl, controller, agents, nspawn', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let tmp: string;
  let server: ChildProcess | undefined;
  let trusted: { keyId: string; gnupgHome: string };
  const repo = () => path.join(tmp, 'repo');
  const ids: Record<string, { id: string; ip: string }> = {};

  async function ctl(args: string[]): Promise<any> {
    const r = await c.ctl(['--json', ...args]);
    if (r.status !== 0) throw new Error(`freightctl ${args.join(' ')}: ${r.status} ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  }
  /** build → sign → (tamper) → publish, all through freightctl. */
  async function release(
    name: string,
    version: string,
    from: string,
    o: { base?: string; key: { keyId: string; gnupgHome: string }; tampered?: boolean },
  ) {
    const out = path.join(tmp, 'out', `${name}-${version}`);
    const built = await ctl([
      'image',
      'build',
      name,
      '--version',
      version,
      '--from',
      from,
      '--out',
      out,
      ...(o.base ? ['--base', o.base] : []),
    ]);
    await ctl(['image', 'sign', built.rpm, '--key-id', o.key.keyId, '--gnupg-home', o.key.gnupgHome]);
    if (o.tampered) await tamper(built.rpm);
    // repomd.xml is signed with the repository's key (the one registered), whoever signed the package
    await ctl(['image', 'publish', repo(), built.rpm, '--key-id', trusted.keyId, '--gnupg-home', trusted.gnupgHome]);
  }
  async function run(name: string, image: string, node: number): Promise<any> {
    const r = await ctl([
      'container',
      'run',
      `acme/${name}`,
      '--network',
      'net',
      '--image',
      image,
      '--node',
      `node${node}`,
      '--',
      ...DHCP_CMD,
    ]);
    ids[name] = { id: r.id, ip: r.endpoints[0].ip };
    return r;
  }
  const show = (name: string) => ctl(['container', 'show', `acme/${name}`]);
  const rootfsFile = (node: number, name: string, file: string) =>
    readFile(path.join(c.stateDir(node), 'containers', ids[name].id, 'rootfs', file), 'utf8').catch(() => '');

  beforeAll(async () => {
    tmp = await mkdirTmp();
    trusted = await makeKey(tmp, 'images@freight.invalid');
    const stranger = await makeKey(tmp, 'stranger@freight.invalid');
    await writeFile(path.join(tmp, 'key.asc'), await exportPublicKey(trusted));
    db = await freshDatabase('freight_images_e2e');
    // the repository is on the underlay (198.18/15, refused by default): the admin allows its address
    process.env.FREIGHT_REPO_ALLOW_CIDR = `${REPO_IP}/32`;
    c = await Cluster.start({ nodes: 2, databaseUrl: db.url, heartbeatMs: 500 });
    // base, derivative (only its /etc/motd), and the two hostile packages
    const layer = path.join(tmp, 'hello-layer');
    await mkdir(path.join(layer, 'etc'), { recursive: true });
    await writeFile(path.join(layer, 'etc', 'motd'), 'hello layer\n');
    await release('busybox', '1', busyboxImage(), { key: trusted });
    await release('hello', '1', layer, { key: trusted, base: 'busybox:1' });
    // a full tree: tamper() flips bytes inside the last 4 KiB, which must be payload
    await release('tampered', '1', busyboxImage(), { key: trusted, tampered: true });
    await release('rogue', '1', layer, { key: stranger });
    // the repository lives in the underlay, where the controller and every node reach it
    await mkdir(repo(), { recursive: true });
    server = await serveRepo(c, repo(), REPO_IP);
    await ctl(['tenant', 'create', 'acme']);
    await ctl(['network', 'create', 'acme/net', '--cidr', '10.0.0.0/24']);
    await ctl(['image', 'repo', 'add', 'acme', 'main', REPO_URL, '--allow-http', '--key', path.join(tmp, 'key.asc')]);
  }, 180_000);

  afterAll(async () => {
    delete process.env.FREIGHT_REPO_ALLOW_CIDR;
    server?.kill('SIGKILL');
    c?.stop();
    await db?.drop();
    if (tmp) {
      await stopAgents(tmp);
      await rm(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('registers the repository for the tenant with its public key', async () => {
    const list = await ctl(['image', 'repo', 'list', 'acme']);
    expect(list).toMatchObject([{ tenant: 'acme', name: 'main', url: REPO_URL }]);
    expect(list[0].publicKey).toContain('BEGIN PGP PUBLIC KEY BLOCK');
  });

  it('runs the base image on node0 and the derivative on node1, pinned, verified, layered; they reach each other', async () => {
    expect((await run('web', 'busybox', 0)).image).toBe('busybox:1');
    expect((await run('hi', 'hello', 1)).image).toBe('hello:1');
    await c.waitFor(
      () => c.addressOf(ids.web.id) === ids.web.ip && c.addressOf(ids.hi.id) === ids.hi.ip,
      60_000,
      'DHCP addresses on RPM images',
    );
    expect(c.exec(ids.hi.id, 'ping', ['-c', '2', '-W', '2', ids.web.ip]).status).toBe(0);
    // the derivative's own layer over its base: its motd, the base's busybox
    expect(await rootfsFile(1, 'hi', 'etc/motd')).toBe('hello layer\n');
    expect(await rootfsFile(1, 'hi', 'usr/share/udhcpc/default.script')).toContain('udhcpc');
    expect((await show('web')).observedState).toBe('running');
  }, 90_000);

  it('refuses a tampered RPM and one signed by an unknown key: the container fails with the reason', async () => {
    await run('bad1', 'tampered', 0);
    await run('bad2', 'rogue', 0);
    await c.waitFor(
      async () => (await show('bad1')).observedState === 'failed' && (await show('bad2')).observedState === 'failed',
      30_000,
      'both refused',
    );
    expect((await show('bad1')).reason).toMatch(/refused \(tampered\)/);
    expect((await show('bad2')).reason).toMatch(/refused \(unknown_key\).*not among the tenant's repository keys/);
    // nothing of them was installed
    const root = path.join(c.stateDir(0), 'rpm-images', 'acme', 'var/lib/freight/image-payload');
    expect(await readFile(path.join(root, 'tampered/1/manifest.json'), 'utf8').catch(() => 'absent')).toBe('absent');
  }, 60_000);

  it('lists the container once version 2 is published; upgrade runs it on v2 with the same address', async () => {
    const v2 = path.join(tmp, 'busybox-2');
    await cp(busyboxImage(), v2, { recursive: true, verbatimSymlinks: true });
    await writeFile(path.join(v2, 'etc', 'image-version'), '2\n');
    // v1's os-release has another size; nspawn's first-start chown left a metacopy entry of it in web's upper
    await writeFile(path.join(v2, 'etc', 'os-release'), OS_RELEASE_2);
    await release('busybox', '2', v2, { key: trusted });
    expect(await ctl(['image', 'outdated', 'acme'])).toEqual([
      { tenant: 'acme', container: 'web', name: 'busybox', current: '1', newest: '2' },
    ]);
    const up = await ctl(['container', 'upgrade', 'acme/web']);
    expect(up.image).toBe('busybox:2');
    expect(up.endpoints[0].ip).toBe(ids.web.ip);
    await c.waitFor(
      async () => (await rootfsFile(0, 'web', 'etc/image-version')) === '2\n' && c.addressOf(ids.web.id) === ids.web.ip,
      60_000,
      'web on v2 with its address',
    );
    expect((await show('web')).observedState).toBe('running');
    // v2's data with v2's size in the container's root (not v1's size over v2's data: reads
    // follow the new data, but stat, mmap and sqlite — the rpm database — believe the size)
    const rootfs = path.join(c.stateDir(0), 'containers', ids.web.id, 'rootfs');
    expect((await stat(path.join(rootfs, 'etc/os-release'))).size).toBe(OS_RELEASE_2.length);
    expect(await rootfsFile(0, 'web', 'etc/os-release')).toBe(OS_RELEASE_2);
    expect(c.exec(ids.hi.id, 'ping', ['-c', '2', '-W', '2', ids.web.ip]).status).toBe(0);
    expect(await ctl(['image', 'outdated', 'acme'])).toEqual([]);
  }, 90_000);
});

const OS_RELEASE_2 = 'NAME="busybox"\nVERSION_ID="2"\nPRETTY_NAME="busybox, the second release of the test image"\n';

async function mkdirTmp(): Promise<string> {
  const { mkdtemp } = await import('node:fs/promises');
  return mkdtemp(path.join(os.tmpdir(), 'freight-images-e2e-'));
}
