import { execFileSync } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { isImageError } from '../../images/errors.js';
import { publishRepo } from '../../images/publish.js';
import { exportPublicKey, signRpms } from '../../images/sign.js';
import { busyboxTree, haveTools, makeKey, serveDir, stopAgents, tmpBase } from '../../test/images/support.js';
import { ensureRpmImage, installedVersions, mountImageRoot, unmountImageRoot } from './rpm-images.js';

const missing = haveTools();

describe.skipIf(missing)('runtime: RPM image roots', () => {
  let tmp: string;
  let server: { url: string; close(): Promise<void> };
  let key: { keyId: string; gnupgHome: string };
  let publicKey: string;
  const mounted: string[] = [];

  const publish = async (version: string, motd: string) => {
    const tree = await busyboxTree(path.join(tmp, `tree-${version}`));
    await writeFile(path.join(tree, 'etc/motd'), motd);
    const { rpm } = await buildImage({
      manifest: { name: 'busybox', version, command: ['/bin/sh'] },
      from: tree,
      outDir: path.join(tmp, 'out'),
    });
    await signRpms([rpm], key);
    await publishRepo(path.join(tmp, 'repo'), [rpm]);
  };

  beforeAll(async () => {
    tmp = await tmpBase();
    key = await makeKey(tmp, 'runtime@freight.invalid');
    publicKey = await exportPublicKey(key);
    await publish('1', 'one\n');
    server = await serveDir(path.join(tmp, 'repo'));
  });
  afterAll(async () => {
    for (const m of mounted) await unmountImageRoot(m);
    await server?.close();
    if (tmp) await stopAgents(tmp);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const container = (id: string) => ({
    upper: path.join(tmp, id, 'upper'),
    work: path.join(tmp, id, 'work'),
    merged: path.join(tmp, id, 'rootfs'),
  });
  const state = () => path.join(tmp, 'state');
  const sh = (root: string, script: string) => execFileSync('chroot', [root, '/bin/sh', '-c', script], { encoding: 'utf8' });

  it('mounts a container root over the shared image; writes stay in the container', async () => {
    const img = await ensureRpmImage({ stateDir: state(), tenant: 'acme', image: 'busybox:1', repos: [{ url: server.url, publicKey }] });
    const a = container('a');
    const b = container('b');
    for (const c of [a, b]) {
      await mountImageRoot(img.lowerdirs, c);
      mounted.push(c.merged);
    }
    expect(sh(a.merged, 'cat /etc/motd; echo mine > /etc/motd')).toBe('one\n');
    expect(await readFile(path.join(a.upper, 'etc/motd'), 'utf8')).toBe('mine\n');
    expect(sh(b.merged, 'cat /etc/motd')).toBe('one\n'); // the image itself is untouched
    expect(await readFile(path.join(img.lowerdirs[0], 'etc/motd'), 'utf8')).toBe('one\n');
    await unmountImageRoot(b.merged);
    await unmountImageRoot(b.merged); // idempotent: stop and delete both unmount
    expect(await stat(path.join(b.merged, 'bin')).catch(() => undefined)).toBeUndefined();
  });

  it('upgrades: the newest version is installed beside the old one and the container root remounts on it', async () => {
    await publish('2', 'two\n');
    const installed: string[] = [];
    const img = await ensureRpmImage({
      stateDir: state(),
      tenant: 'acme',
      image: 'busybox',
      repos: [{ url: server.url, publicKey }],
      onInstall: (n, v) => installed.push(`${n}:${v}`),
    });
    expect(installed).toEqual(['busybox:2']);
    expect(await installedVersions(state(), 'acme')).toEqual(['busybox:1', 'busybox:2']);
    const fresh = container('c');
    await mountImageRoot(img.lowerdirs, fresh);
    mounted.push(fresh.merged);
    expect(sh(fresh.merged, 'cat /etc/motd')).toBe('two\n');
  });

  it('a key the tenant no longer lists stops verifying at once', async () => {
    await publish('3', 'three\n');
    const other = await makeKey(tmp, 'other@freight.invalid');
    const err = await ensureRpmImage({
      stateDir: state(),
      tenant: 'acme',
      image: 'busybox:3',
      repos: [{ url: server.url, publicKey: await exportPublicKey(other) }],
    }).catch((e: unknown) => e);
    expect(isImageError(err, 'unknown_key')).toBe(true);
    expect(await installedVersions(state(), 'acme')).toEqual(['busybox:1', 'busybox:2']);
  });
});
