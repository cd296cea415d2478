import { existsSync } from 'node:fs';
import { ImageError } from './errors.js';
import { run, runOk } from './exec.js';
import { parseManifest, type Manifest } from './manifest.js';
import { PKG_PREFIX, pkgName } from './ref.js';
import { assertRealDirs, readRegularFile } from './nofollow.js';
import { installedPayload, rpmDefines } from './rpmroot.js';

const MAX_MANIFEST = 1 << 20;

/**
 * Never run package code on the node, whatever the package says: no scriptlets (shell or
 * Lua, which rpm runs in-process as root), no triggers of this or any installed package,
 * no host rpm plugins acting on the tenant's files. checkPackage refuses such packages
 * first; these flags hold even for a caller that skipped it.
 */
export const NO_CODE = ['--noscripts', '--notriggers', '--noplugins'];

/**
 * Installs a verified image RPM into the tenant root. `rpm -i` (not -U) so that
 * versions coexist: containers on the old version keep running while new ones
 * start on the new. rpm re-verifies with `_pkgverify_level signature`, so even a
 * caller that skipped checkSignature cannot install an unsigned package.
 */
export async function installRpm(root: string, rpm: string): Promise<void> {
  await runOk(`install ${rpm} into ${root}`, 'install_failed', 'rpm', [
    '--root',
    root,
    ...rpmDefines(),
    '--define',
    '_pkgverify_level signature',
    ...NO_CODE,
    '-i',
    '--',
    rpm,
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
  const r = await run('rpm', ['--root', root, ...rpmDefines(), '-q', '--qf', '%{VERSION}\n', '--', pkgName(name)]);
  return r.code === 0 && r.stdout.split('\n').includes(version);
}

/**
 * The manifest of an installed version, read without following a symlink anywhere between
 * the tenant root and the file (a hostile one would point at a host file, whose first bytes
 * a JSON error message would show the tenant).
 */
export async function readInstalledManifest(root: string, name: string, version: string): Promise<Manifest> {
  const p = installedPayload(root, name, version);
  if (!existsSync(p.dir)) throw new ImageError('not_installed', `read image ${name}:${version}: not installed in ${root}`);
  await assertRealDirs(root, p.dir, `image ${name}:${version}`);
  return parseManifest(await readRegularFile(p.manifest, MAX_MANIFEST, `image ${name}:${version}`), p.manifest);
}

/**
 * The key ids (16 hex digits) an installed image version was signed with, from the tenant
 * root's rpm database (recorded at install; rpm checked them then). Empty when unknown.
 */
export async function installedImageKeys(root: string, name: string, version: string): Promise<string[]> {
  const r = await run('rpm', [
    '--root',
    root,
    ...rpmDefines(),
    '-q',
    '--qf',
    '%|RSAHEADER?{%{RSAHEADER:pgpsig}\n}|%|DSAHEADER?{%{DSAHEADER:pgpsig}\n}|%|SIGPGP?{%{SIGPGP:pgpsig}\n}|%|SIGGPG?{%{SIGGPG:pgpsig}\n}|',
    '--',
    `${pkgName(name)}-${version}`,
  ]);
  if (r.code !== 0) return [];
  const ids = r.stdout.split('\n').map((l) => /Key ID ([0-9a-f]{8,40})$/i.exec(l.trim())?.[1]?.toLowerCase());
  return [...new Set(ids.filter((x): x is string => !!x))];
}
