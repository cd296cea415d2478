import { readFile } from 'node:fs/promises';
import { ImageError } from './errors.js';
import { run, runOk } from './exec.js';
import { parseManifest, type Manifest } from './manifest.js';
import { PKG_PREFIX, pkgName } from './ref.js';
import { installedPayload, rpmDefines } from './rpmroot.js';

/**
 * Installs a verified image RPM into the tenant root. `rpm -i` (not -U) so that
 * versions coexist: containers on the old version keep running while new ones
 * start on the new. rpm re-verifies with `_pkgverify_level signature`, so even a
 * caller that skipped checkSignature cannot install an unsigned package.
 */
export async function installRpm(root: string, rpm: string): Promise<void> {
  await runOk(`install ${rpm} into ${root}`, 'install-failed', 'rpm', [
    '--root', root, ...rpmDefines(), '--define', '_pkgverify_level signature', '-i', rpm,
  ]);
}

export interface InstalledImage {
  name: string;
  version: string;
  release: string;
}

/** The image versions installed in a root, from its rpm database. */
export async function installedImages(root: string): Promise<InstalledImage[]> {
  const r = await run('rpm', ['--root', root, ...rpmDefines(), '-qa', '--qf', '%{NAME}\t%{VERSION}\t%{RELEASE}\n']);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter(([n, v]) => n?.startsWith(PKG_PREFIX) && v)
    .map(([n, version, release]) => ({ name: n.slice(PKG_PREFIX.length), version, release: release ?? '' }));
}

export async function isInstalled(root: string, name: string, version: string): Promise<boolean> {
  const r = await run('rpm', ['--root', root, ...rpmDefines(), '-q', '--qf', '%{VERSION}\n', pkgName(name)]);
  return r.code === 0 && r.stdout.split('\n').includes(version);
}

/** Removes one installed image version (the runtime calls it when no container uses it any more). */
export async function removeImage(root: string, name: string, version: string): Promise<void> {
  await runOk(`remove image ${name}:${version}`, 'not-installed', 'rpm', ['--root', root, ...rpmDefines(), '-e', `${pkgName(name)}-${version}`]);
}

export async function readInstalledManifest(root: string, name: string, version: string): Promise<Manifest> {
  const file = installedPayload(root, name, version).manifest;
  const text = await readFile(file, 'utf8').catch(() => {
    throw new ImageError('not-installed', `read image ${name}:${version}: not installed in ${root}`);
  });
  return parseManifest(text, file);
}
