/**
 * A hostile tenant's images through the whole system (issue 13, findings 4–6): the tenant
 * registers its own repository and key and publishes signed RPMs that carry scriptlets, a
 * rootfs symlinked to the node's `/`, a setuid binary and a device node; it also asks for
 * the reserved infra image. Controller, agent, nspawn, rpm are real; each attack must fail
 * with its reason in `container show` and leave nothing on the node.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRepo } from '../../images/publish.js';
import { exportPublicKey, signRpms } from '../../images/sign.js';
import { buildHostileImage, haveTools, makeKey, stopAgents } from '../images/support.js';
import { freshDatabase } from '../support/pg.js';
import { isRoot } from '../support/netns.js';
import { busyboxImage, Cluster } from './cluster.js';
import { serveRepo } from './repo-server.js';

const REPO_IP = '198.18.0.252';
const REPO_URL = `http://${REPO_IP}:8080/`;
const missing = !isRoot ? 'not root' : haveTools();
if (missing) console.warn(`skipping hostile image test: ${missing}`);

const P = (name: string) => `/var/lib/freight/image-payload/${name}/1`;

describe.skipIf(missing)('hostile tenant images end to end', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let c: Cluster;
  let tmp: string;
  let server: ChildProcess | undefined;

  async function ctl(args: string[]): Promise<any> {
    const r = await c.ctl(['--json', ...args]);
    if (r.status !== 0) throw new Error(`freightctl ${args.join(' ')}: ${r.status} ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  }
  const show = (name: string) => ctl(['container', 'show', `acme/${name}`]);
  const run = (name: string) =>
    ctl(['container', 'run', `acme/${name}`, '--network', 'net', '--image', name, '--node', 'node0', '--', 'sleep', '1000']);
  const tenantRoot = () => path.join(c.stateDir(0), 'rpm-images', 'acme');

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'freight-hostile-'));
    const key = await makeKey(tmp, 'tenant@freight.invalid');
    await writeFile(path.join(tmp, 'key.asc'), await exportPublicKey(key));
    const tree = busyboxImage();
    const build = (name: string, parts: Parameters<typeof buildHostileImage>[3]) => buildHostileImage(tmp, name, tree, parts);
    const rpms = [
      await build('scripted', {
        // a /bin/sh in the tenant's rpm root, so the %post could run if rpm ran it
        install: [
          'mkdir -p %{buildroot}/bin %{buildroot}/var/tmp',
          'cp /bin/busybox %{buildroot}/bin/busybox',
          'ln -s busybox %{buildroot}/bin/sh',
        ],
        files: ['/bin', '/var/tmp'],
        scripts: ['%pre -p <lua>', 'io.open("/marker-lua", "w"):close()', '', '%post', 'touch /marker-shell'],
      }),
      await build('hostroot', {
        install: [`rm -rf "%{buildroot}${P('hostroot')}/rootfs"`, `ln -s / "%{buildroot}${P('hostroot')}/rootfs"`],
      }),
      await build('setuid', {
        install: [
          `rm -f "%{buildroot}${P('setuid')}/rootfs/bin/su"`,
          `cp /bin/busybox "%{buildroot}${P('setuid')}/rootfs/bin/su"`,
          `chmod 4755 "%{buildroot}${P('setuid')}/rootfs/bin/su"`,
        ],
      }),
      await build('device', { files: [`%dev(b,8,0) %attr(0666,root,root) ${P('device')}/rootfs/dev/sda`] }),
    ];
    await signRpms(rpms, key);
    await publishRepo(path.join(tmp, 'repo'), rpms, key); // repomd.xml signed with the registered key
    db = await freshDatabase('freight_hostile_images');
    // the repository is on the underlay (198.18/15, refused by default): the admin allows its address
    process.env.FREIGHT_REPO_ALLOW_CIDR = `${REPO_IP}/32`;
    c = await Cluster.start({ nodes: 1, databaseUrl: db.url, heartbeatMs: 500 });
    server = await serveRepo(c, path.join(tmp, 'repo'), REPO_IP);
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

  it('each hostile image fails its container with the reason naming the file; no scriptlet ran on the node', async () => {
    for (const name of ['scripted', 'hostroot', 'setuid', 'device']) await run(name);
    const states = async () => Promise.all(['scripted', 'hostroot', 'setuid', 'device'].map(async (n) => (await show(n)).observedState));
    await c.waitFor(async () => (await states()).every((s) => s === 'failed'), 60_000, 'all four refused');
    expect((await show('scripted')).reason).toMatch(/refused \(unsafe_package\): .*scriptlets or triggers/);
    expect((await show('hostroot')).reason).toMatch(/refused \(unsafe_package\): .*rootfs is a symlink to "\/"/);
    expect((await show('setuid')).reason).toMatch(/refused \(unsafe_package\): .*rootfs\/bin\/su \(mode 4755\) is setuid/);
    expect((await show('device')).reason).toMatch(/refused \(unsafe_package\): .*rootfs\/dev\/sda \(mode 666\) is a block device node/);
    expect(existsSync(path.join(tenantRoot(), 'marker-lua'))).toBe(false);
    expect(existsSync(path.join(tenantRoot(), 'marker-shell'))).toBe(false);
    for (const n of ['scripted', 'hostroot', 'setuid', 'device']) expect(existsSync(path.join(tenantRoot(), P(n))), n).toBe(false);
  }, 90_000);

  it('image freight-infra from a tenant token: 400 reserved_name, nothing scheduled', async () => {
    const { token } = await ctl(['token', 'create', '--tenant', 'acme']);
    const r = await c.api('POST', '/v1/tenants/acme/containers', { name: 'sneaky', image: 'freight-infra', networks: ['net'] }, token);
    expect([r.status, r.body.code, r.body.path]).toEqual([400, 'reserved_name', 'image']);
    expect((await c.api('GET', '/v1/tenants/acme/containers/sneaky')).status).toBe(404);
  });
});
