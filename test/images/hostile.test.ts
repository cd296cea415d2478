/**
 * A hostile tenant's own signed image RPMs (issue 13, findings 4 and 5), against real
 * rpmbuild, rpmsign, createrepo_c and rpm: scriptlets never run on the node, and a payload
 * with a symlinked rootfs, a setuid file, a device node or files outside its payload is
 * refused with the reason naming the file. Each case installs on the code before the fix.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImageError } from '../../images/errors.js';
import { installedImages, installRpm } from '../../images/install.js';
import { syncKeys } from '../../images/keyring.js';
import { imageLayers } from '../../images/layers.js';
import { publishRepo } from '../../images/publish.js';
import { pullImage, type TenantRepo } from '../../images/pull.js';
import { tenantRoot } from '../../images/rpmroot.js';
import { exportPublicKey, signRpms } from '../../images/sign.js';
import { RuntimeError } from '../../node-agent/runtime/errors.js';
import { rpmImageLayers } from '../../node-agent/runtime/rpm-layers.js';
import { buildHostileImage, haveTools, makeKey, serveDir, stopAgents, tmpBase } from './support.js';

const missing = haveTools();
if (missing) console.warn(`skipping hostile image tests: ${missing}`);

const P = (name: string) => `/var/lib/freight/image-payload/${name}/1`;
/** A /bin/sh and /var/tmp in the rpm root, so a shell scriptlet can run at all (rpm chroots into it). */
const SHELL_INSTALL = [
  'mkdir -p %{buildroot}/bin %{buildroot}/var/tmp',
  'cp /bin/busybox %{buildroot}/bin/busybox',
  'ln -s busybox %{buildroot}/bin/sh',
];
const SHELL_FILES = ['/bin', '/var/tmp'];
const SCRIPTS = [
  '%pre -p <lua>',
  'io.open("/marker-lua", "w"):write("lua ran as root on the node\\n")',
  '',
  '%post',
  'echo "shell ran as root on the node" > /marker-shell',
];

describe.skipIf(missing)('hostile image RPMs: no package code on the node, no dangerous payloads', () => {
  let tmp: string;
  let server: { url: string; close(): Promise<void> };
  let repo: TenantRepo;
  const rpms: Record<string, string> = {};
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    tmp = await tmpBase();
    const key = await makeKey(tmp, 'hostile@freight.invalid');
    const tree = path.join(tmp, 'tree');
    await mkdir(path.join(tree, 'usr'), { recursive: true });
    await mkdir(path.join(tree, 'bin'), { recursive: true });
    await writeFile(path.join(tree, 'bin', 'true'), '#!/bin/sh\n');
    const build = (name: string, parts: Parameters<typeof buildHostileImage>[3]) => buildHostileImage(tmp, name, tree, parts);
    rpms.scripted = await build('scripted', { install: SHELL_INSTALL, files: SHELL_FILES, scripts: SCRIPTS });
    rpms.hostroot = await build('hostroot', {
      install: [`rm -rf "%{buildroot}${P('hostroot')}/rootfs"`, `ln -s / "%{buildroot}${P('hostroot')}/rootfs"`],
    });
    rpms.setuid = await build('setuid', {
      install: [`cp /bin/busybox "%{buildroot}${P('setuid')}/rootfs/bin/su"`, `chmod 4755 "%{buildroot}${P('setuid')}/rootfs/bin/su"`],
    });
    rpms.device = await build('device', {
      install: [`mkdir -p "%{buildroot}${P('device')}/rootfs/dev"`],
      files: [`%dev(b,8,0) %attr(0666,root,root) ${P('device')}/rootfs/dev/sda`],
    });
    rpms.outside = await build('outside', {
      install: [
        'mkdir -p %{buildroot}/var/lib/freight/image-payload/victim/1',
        'echo x > %{buildroot}/var/lib/freight/image-payload/victim/1/manifest.json',
      ],
      files: ['/var/lib/freight/image-payload/victim'],
    });
    rpms.manifestlink = await build('manifestlink', {
      install: [
        `rm "%{buildroot}${P('manifestlink')}/manifest.json"`,
        `ln -s /etc/shadow "%{buildroot}${P('manifestlink')}/manifest.json"`,
      ],
    });
    // a tenant signs its own packages: every one of these verifies against its key
    await signRpms(Object.values(rpms), key);
    await publishRepo(path.join(tmp, 'repo'), Object.values(rpms));
    server = await serveDir(path.join(tmp, 'repo'));
    repo = { url: server.url, publicKey: await exportPublicKey(key) };
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (tmp) await stopAgents(tmp);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** Pulls `name` into a fresh state dir: it must be refused as unsafe_package, with nothing installed. */
  async function refused(name: string): Promise<string> {
    const stateDir = path.join(tmp, `state-${name}`);
    const err = await pullImage({ stateDir, tenant: 'evil', ref: name, repos: [repo] }).catch((e: unknown) => e);
    expect(isImageError(err, 'unsafe_package'), String(err)).toBe(true);
    const root = tenantRoot(stateDir, 'evil');
    expect(await installedImages(root)).toEqual([]);
    expect(existsSync(path.join(root, P(name)))).toBe(false);
    return (err as Error).message;
  }

  it('refuses a package with shell and Lua scriptlets; neither ran', async () => {
    const msg = await refused('scripted');
    expect(msg).toMatch(/freight-image-scripted-1-1\..*\.rpm: it carries scriptlets or triggers \(PREINPROG, POSTIN, POSTINPROG\)/);
    const root = tenantRoot(path.join(tmp, 'state-scripted'), 'evil');
    expect(existsSync(path.join(root, 'marker-lua'))).toBe(false);
    expect(existsSync(path.join(root, 'marker-shell'))).toBe(false);
  });

  it('installs with --noscripts --notriggers even when the header check is skipped: no marker appears', async () => {
    const root = path.join(tmp, 'bare-root');
    await syncKeys(root, [repo.publicKey], path.join(tmp, 'scratch'));
    await installRpm(root, rpms.scripted);
    expect(existsSync(path.join(root, 'bin/busybox'))).toBe(true); // it was installed…
    expect(existsSync(path.join(root, 'marker-lua'))).toBe(false); // …and no code of it ran
    expect(existsSync(path.join(root, 'marker-shell'))).toBe(false);
  });

  it('refuses a payload whose rootfs is a symlink to /', async () => {
    expect(await refused('hostroot')).toMatch(/rootfs is a symlink to "\/", not a real directory inside the payload/);
  });

  it('refuses a setuid binary, naming it', async () => {
    expect(await refused('setuid')).toMatch(/file rootfs\/bin\/su \(mode 4755\) is setuid/);
  });

  it('refuses a device node, naming it', async () => {
    expect(await refused('device')).toMatch(/file rootfs\/dev\/sda \(mode 666\) is a block device node/);
  });

  it("refuses files outside the image's own payload (another image's directory)", async () => {
    expect(await refused('outside')).toMatch(/file "\/var\/lib\/freight\/image-payload\/victim" is outside the image's payload/);
  });

  it('refuses a manifest.json that is a symlink', async () => {
    expect(await refused('manifestlink')).toMatch(/manifest.json is a symlink to "\/etc\/shadow", not a real file/);
  });

  describe('layers of an already installed image are resolved without following symlinks', () => {
    // what an install before the header check (or a tampered state directory) leaves behind
    let stateDir: string;
    let root: string;
    beforeAll(async () => {
      stateDir = path.join(tmp, 'state-preinstalled');
      root = tenantRoot(stateDir, 'evil');
      await syncKeys(root, [repo.publicKey], path.join(tmp, 'scratch'));
      await installRpm(root, rpms.hostroot);
      await installRpm(root, rpms.manifestlink);
    });

    it('imageLayers refuses a rootfs symlink instead of handing / to overlayfs', async () => {
      expect((await stat(path.join(root, P('hostroot'), 'rootfs'))).isDirectory()).toBe(true); // stat follows: it is the host's /
      const err = await imageLayers(root, 'hostroot', '1').catch((e: unknown) => e);
      expect(isImageError(err, 'unsafe_package'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/var\/lib\/freight\/image-payload\/hostroot\/1\/rootfs is a symlink, not a real directory/);
    });

    it('the runtime fails the container for good with the reason naming rootfs (observed: failed)', async () => {
      const err = await rpmImageLayers({ stateDir, tenant: 'evil', image: 'hostroot:1', repos: [repo], what: 'web', log }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RuntimeError);
      expect(err).toMatchObject({ code: 'image_refused', transient: false });
      expect((err as Error).message).toMatch(/^start container web: image hostroot:1 refused \(unsafe_package\): .*rootfs is a symlink/);
    });

    it('a symlinked manifest.json is not read (no host file content in the reason)', async () => {
      const err = await imageLayers(root, 'manifestlink', '1').catch((e: unknown) => e);
      expect(isImageError(err, 'unsafe_package'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/manifest.json is a symlink/);
      expect((err as Error).message).not.toMatch(/root:/);
    });

    it('a symlinked directory above the payload is refused too', async () => {
      const other = path.join(tmp, 'elsewhere');
      await mkdir(path.join(other, '1', 'rootfs'), { recursive: true });
      await writeFile(path.join(other, '1', 'manifest.json'), JSON.stringify({ name: 'linked', version: '1' })); // valid: only the link is wrong
      await symlink(other, path.join(root, 'var/lib/freight/image-payload/linked'));
      const err = await imageLayers(root, 'linked', '1').catch((e: unknown) => e);
      expect(isImageError(err, 'unsafe_package'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/image-payload\/linked is a symlink/);
    });
  });
});
