import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { isImageError } from '../../images/errors.js';
import { installedImages } from '../../images/install.js';
import { publishRepo } from '../../images/publish.js';
import { pullImage, type TenantRepo } from '../../images/pull.js';
import { fetchRepoIndex } from '../../images/repo-client.js';
import { LOOPBACK_POLICY } from './support.js';
import { outdated, resolveImage } from '../../images/resolve.js';
import { incomingDir, tenantRoot } from '../../images/rpmroot.js';
import { exportPublicKey, signRpms } from '../../images/sign.js';
import { busyboxTree, haveTools, makeKey, serveDir, stopAgents, tamper, tmpBase } from './support.js';

const missing = haveTools();
if (missing) console.warn(`skipping image RPM tests: ${missing}`);

describe.skipIf(missing)('image RPMs: build, sign, publish, pull, verify, layer', () => {
  let tmp: string;
  let good: { url: string; close(): Promise<void> };
  let bad: { url: string; close(): Promise<void> };
  let trusted: TenantRepo;
  let stateDir: string;
  let busybox1: string;
  const key = { keyId: '', gnupgHome: '' };

  beforeAll(async () => {
    tmp = await tmpBase();
    Object.assign(key, await makeKey(tmp, 'images@freight.invalid'));
    const stranger = await makeKey(tmp, 'stranger@freight.invalid');
    const out = path.join(tmp, 'out');
    const bb = await buildImage({
      manifest: { name: 'busybox', version: '1', command: ['/bin/sh'] },
      from: await busyboxTree(path.join(tmp, 'bb')),
      outDir: out,
    });
    busybox1 = bb.rpm;
    // a derivative carries only what it overrides
    const layer = path.join(tmp, 'hello');
    await mkdir(path.join(layer, 'etc'), { recursive: true });
    await writeFile(path.join(layer, 'etc', 'motd'), 'hello layer\n');
    const hello = await buildImage({
      manifest: {
        name: 'hello',
        version: '1',
        command: ['/bin/cat', '/etc/motd'],
        env: { GREETING: 'hi' },
        ports: [{ port: 8080 }],
        base: { name: 'busybox', version: '1' },
      },
      from: layer,
      outDir: out,
    });
    await signRpms([bb.rpm, hello.rpm], key);
    await publishRepo(path.join(tmp, 'repo'), [bb.rpm, hello.rpm]);
    // the hostile repository: a tampered copy, a stranger's signature, no signature
    const evil = path.join(tmp, 'evil');
    await mkdir(evil);
    const t = await buildImage({
      manifest: { name: 'tampered', version: '1' },
      from: path.join(tmp, 'bb'),
      outDir: path.join(tmp, 'out-t'),
    });
    await signRpms([t.rpm], key);
    await copyFile(t.rpm, path.join(evil, path.basename(t.rpm)));
    await tamper(path.join(evil, path.basename(t.rpm)));
    const rogue = await buildImage({ manifest: { name: 'rogue', version: '1' }, from: layer, outDir: path.join(tmp, 'out-r') });
    await signRpms([rogue.rpm], stranger);
    const plain = await buildImage({ manifest: { name: 'plain', version: '1' }, from: layer, outDir: path.join(tmp, 'out-p') });
    await publishRepo(evil, [rogue.rpm, plain.rpm]);
    good = await serveDir(path.join(tmp, 'repo'));
    bad = await serveDir(evil);
    trusted = { url: good.url, publicKey: await exportPublicKey(key) };
    stateDir = path.join(tmp, 'state');
  });

  afterAll(async () => {
    await good?.close();
    await bad?.close();
    if (tmp) await stopAgents(tmp);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('publishes a yum repository whose metadata names each image, its version and its base', async () => {
    const index = await fetchRepoIndex(good.url, { policy: LOOPBACK_POLICY });
    const byName = Object.fromEntries(index.map((i) => [i.name, i]));
    expect(Object.keys(byName).sort()).toEqual(['busybox', 'hello']);
    expect(byName.hello).toMatchObject({ version: '1', base: { name: 'busybox', version: '1' } });
    expect(byName.busybox.base).toBeUndefined();
  });

  it('pulls a derivative: base installed first, both verified, layers derivative-first, runnable', async () => {
    const installed: string[] = [];
    const r = await pullImage({
      stateDir,
      tenant: 'acme',
      ref: 'hello',
      repos: [trusted],
      onInstall: (i) => installed.push(`${i.name}:${i.version}`),
    });
    expect(installed).toEqual(['busybox:1', 'hello:1']);
    expect(r).toMatchObject({ name: 'hello', version: '1' });
    expect(r.manifest).toMatchObject({
      command: ['/bin/cat', '/etc/motd'],
      env: { GREETING: 'hi' },
      ports: [{ port: 8080, protocol: 'tcp' }],
    });
    const root = tenantRoot(stateDir, 'acme');
    expect(r.lowerdirs).toEqual([
      path.join(root, 'var/lib/freight/image-payload/hello/1/rootfs'),
      path.join(root, 'var/lib/freight/image-payload/busybox/1/rootfs'),
    ]);
    expect(execFileSync('chroot', [r.lowerdirs[1], '/bin/busybox', 'echo', 'ok'], { encoding: 'utf8' })).toBe('ok\n');
    // the merged view: the derivative's /etc/motd over the base's busybox
    const merged = path.join(tmp, 'merged');
    const upper = path.join(tmp, 'upper');
    const work = path.join(tmp, 'work');
    for (const d of [merged, upper, work]) await mkdir(d, { recursive: true });
    const script = `mount -t overlay overlay -o lowerdir=${r.lowerdirs.join(':')},upperdir=${upper},workdir=${work} ${merged} && chroot ${merged} /bin/cat /etc/motd`;
    // a private mount namespace: the overlay disappears with the process
    expect(execFileSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' })).toBe('hello layer\n');
    expect((await installedImages(root)).map((i) => `${i.name}:${i.version}`).sort()).toEqual(['busybox:1', 'hello:1']);
  });

  it('reuses an installed version instead of fetching it again', async () => {
    const installed: string[] = [];
    const r = await pullImage({ stateDir, tenant: 'acme', ref: 'busybox:1', repos: [trusted], onInstall: (i) => installed.push(i.name) });
    expect(installed).toEqual([]);
    expect(r.lowerdirs).toHaveLength(1);
  });

  const refusal = async (ref: string) => {
    const s = path.join(tmp, `state-${ref}`);
    const err = await pullImage({
      stateDir: s,
      tenant: 'acme',
      ref,
      repos: [trusted, { url: bad.url, publicKey: trusted.publicKey }],
    }).catch((e: unknown) => e);
    const root = tenantRoot(s, 'acme');
    // nothing unpacked: no payload directory, no image in the rpm database, no download left
    expect(await stat(path.join(root, 'var/lib/freight/image-payload', ref)).catch(() => undefined)).toBeUndefined();
    expect(await installedImages(root)).toEqual([]);
    expect(await readdir(incomingDir(s))).toEqual([]);
    return err;
  };

  it('refuses a tampered image (payload bytes flipped) before unpacking it', async () => {
    const err = await refusal('tampered');
    expect(isImageError(err, 'tampered')).toBe(true);
    expect((err as Error).message).toMatch(/verify freight-image-tampered-1-1\..*\.rpm: content does not match its signed digests/);
  });

  it("refuses an image signed by a key that is not the tenant's", async () => {
    const err = await refusal('rogue');
    expect(isImageError(err, 'unknown_key')).toBe(true);
    expect((err as Error).message).toMatch(/signed by key [0-9a-f]{8}, which is not among the tenant's repository keys/);
  });

  it('refuses an unsigned image', async () => {
    const err = await refusal('plain');
    expect(isImageError(err, 'unsigned')).toBe(true);
  });

  it('version 2 published: NAME resolves to 2 and outdated lists the containers on 1', async () => {
    const v2 = await buildImage({
      manifest: { name: 'busybox', version: '2', command: ['/bin/sh'] },
      from: path.join(tmp, 'bb'),
      outDir: path.join(tmp, 'out2'),
    });
    await signRpms([v2.rpm], key);
    await publishRepo(path.join(tmp, 'repo'), [v2.rpm]);
    const index = await fetchRepoIndex(good.url, { policy: LOOPBACK_POLICY });
    expect(resolveImage('busybox', index).version).toBe('2');
    expect(resolveImage('busybox:1', index).version).toBe('1');
    const containers = [
      { container: 'web-1', image: 'busybox:1' },
      { container: 'web-2', image: 'busybox:2' },
      { container: 'greeter', image: 'hello:1' },
    ];
    expect(outdated(containers, index)).toEqual([{ container: 'web-1', name: 'busybox', current: '1', newest: '2' }]);
    // the upgrade installs 2 beside 1: containers still on 1 keep their tree
    const r = await pullImage({ stateDir, tenant: 'acme', ref: 'busybox', repos: [trusted] });
    expect(r.version).toBe('2');
    const versions = (await installedImages(tenantRoot(stateDir, 'acme')))
      .filter((i) => i.name === 'busybox')
      .map((i) => i.version)
      .sort();
    expect(versions).toEqual(['1', '2']);
    expect(busybox1).toMatch(/freight-image-busybox-1-1\..+\.rpm$/);
  });
});
