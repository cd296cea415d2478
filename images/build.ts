import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ImageError } from './errors.js';
import { runOk } from './exec.js';
import { Manifest, type ManifestInput } from './manifest.js';
import { readPackages, type Component } from './packages.js';
import { rpmDefines } from './rpmroot.js';
import { assertSpecSafePath, renderSpec } from './spec.js';
import { pkgName } from './ref.js';
import { unsafeEntries } from './tree-check.js';

export interface BuildOptions {
  manifest: ManifestInput;
  /** The rootfs: a directory tree (development, or a derivative's overriding directories)… */
  from?: string;
  /** …or RPM files installed with `rpm --root` into a fresh tree, which keeps its rpm database. */
  packages?: string[];
  /** Where the image RPM is written. */
  outDir: string;
  /** Scratch space (removed afterwards); defaults to a directory inside outDir. */
  workDir?: string;
}

export interface BuildResult {
  rpm: string;
  manifest: Manifest;
  /** The packages of the tree's rpm database (none for a tree without one). */
  components: Component[];
}

/** Builds an image RPM `freight-image-NAME-VERSION-1.ARCH.rpm` into outDir. */
export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const parsed = Manifest.safeParse(opts.manifest);
  if (!parsed.success)
    throw new ImageError(
      'invalid_manifest',
      `build image: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const manifest = parsed.data;
  const what = `build image ${manifest.name}:${manifest.version}`;
  if (!opts.from === !opts.packages?.length)
    throw new ImageError('build_failed', `${what}: give exactly one of a rootfs directory or packages`);
  assertSpecSafePath(path.resolve(opts.outDir), 'output directory');
  if (opts.workDir) assertSpecSafePath(path.resolve(opts.workDir), 'work directory');
  await mkdir(opts.outDir, { recursive: true });
  const work = await mkdtemp(path.join(opts.workDir ?? opts.outDir, '.build-'));
  try {
    const rootfs = opts.from
      ? await checkDir(opts.from, what)
      : await rootfsFromPackages(opts.packages ?? [], path.join(work, 'rootfs'), what);
    // the node refuses these (docs/security.md): say so here, before anything is signed or published
    const unsafe = await unsafeEntries(rootfs, 6);
    if (unsafe.length) {
      throw new ImageError(
        'build_failed',
        `${what}: the tree has ${unsafe
          .slice(0, 5)
          .map((f) => `${f.path} (${f.problem})`)
          .join(', ')}${unsafe.length > 5 ? ', …' : ''}; nodes refuse images with device nodes, sockets or setuid/setgid files`,
      );
    }
    // what the tree's own rpm database lists goes into the image's metadata (freight-component provides)
    const { packages: components } = await readPackages(rootfs, work);
    const manifestFile = path.join(work, 'manifest.json');
    await writeFile(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
    const specFile = path.join(work, 'image.spec');
    await writeFile(specFile, renderSpec({ manifest, rootfsDir: path.resolve(rootfs), manifestFile, components }));
    const outDir = path.resolve(opts.outDir);
    await runOk(what, 'build_failed', 'rpmbuild', [
      '-bb',
      '--quiet',
      ...def('_topdir', path.join(work, 'top')),
      ...def('_tmppath', work),
      ...def('_rpmdir', outDir),
      ...def('_rpmfilename', '%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm'),
      specFile,
    ]);
    const prefix = `${pkgName(manifest.name)}-${manifest.version}-1.`;
    const rpm = (await readdir(outDir)).find((f) => f.startsWith(prefix) && f.endsWith('.rpm'));
    if (!rpm) throw new ImageError('build_failed', `${what}: rpmbuild wrote no ${prefix}*.rpm in ${outDir}`);
    return { rpm: path.join(outDir, rpm), manifest, components };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const def = (k: string, v: string) => ['--define', `${k} ${v}`];

async function checkDir(dir: string, what: string): Promise<string> {
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new ImageError('build_failed', `${what}: ${dir} is not a directory`);
  return dir;
}

/** Installs the given RPM files into a fresh tree; their rpm database stays inside it. */
async function rootfsFromPackages(packages: string[], root: string, what: string): Promise<string> {
  await mkdir(root, { recursive: true });
  await runOk(`${what}: install packages`, 'build_failed', 'rpm', [
    '--root',
    root,
    ...rpmDefines(),
    '-i',
    '--',
    ...packages.map((p) => path.resolve(p)),
  ]);
  return root;
}
