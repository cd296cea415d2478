import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { buildImage, type BuildResult } from './build.js';
import { ImageError } from './errors.js';
import { runOk } from './exec.js';
import { readInstalledManifest, NO_CODE } from './install.js';
import { checkSignature, syncKeys } from './keyring.js';
import type { ManifestInput } from './manifest.js';
import { evrString, readPackages } from './packages.js';
import { parseImageRef, assertVersion } from './ref.js';
import { downloadImage, readRepo, STRICT_POLICY, type FetchPolicy, type IndexedImage } from './repo-client.js';
import { resolveImage } from './resolve.js';
import { installedPayload, rpmDefines } from './rpmroot.js';
import { componentUpdates, verifyCandidate, type Candidate, type ComponentUpdate } from './updates.js';

/** A repository as the controller lists it (`image repo list`, `package-repo list`). */
export interface RepoEntry {
  name: string;
  url: string;
  publicKey: string;
  allowHttp?: boolean;
}

export interface RebuildOptions {
  /** The new version (V2) and, optionally, manifest fields that change; the rest is V1's. */
  version: string;
  /** `NAME:V1`: the image version to start from. */
  fromImage: string;
  /** Update the components that have newer trusted versions in the package repositories. */
  update: boolean;
  imageRepos: RepoEntry[];
  packageRepos: RepoEntry[];
  /** Address policy (the admin's allow-list); plain http per repository's allowHttp. */
  policy?: FetchPolicy;
  outDir: string;
  overrides?: Partial<Pick<ManifestInput, 'command' | 'env' | 'ports'>>;
}

export interface RebuildResult extends BuildResult {
  from: string;
  /** What was updated: name, from, to, repository. */
  updated: Array<{ name: string; from: string; to: string; repository: string }>;
  /** Newer versions seen but not used (untrusted), with the reason. */
  skipped: ComponentUpdate[];
}

const MAX_PACKAGE_BYTES = 1024 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 600_000;

const withHttp = (p: FetchPolicy, r: RepoEntry): FetchPolicy => ({ ...p, allowHttp: p.allowHttp || r.allowHttp === true });

/**
 * `image build NAME --version V2 --from-image NAME:V1 [--update]`, on the admin's machine (never
 * a node): V1 is downloaded from the tenant's image repositories and verified with their keys,
 * unpacked into a private build root (no scriptlets), its tree's rpm database compared with the
 * package repositories (rpm version order), each newer candidate downloaded and checked against
 * its repository's key (an untrusted one is skipped and reported), the trusted ones installed with
 * `rpm --root TREE -U` as `--packages` builds install theirs, and the tree built as V2.
 */
export async function rebuildImage(name: string, o: RebuildOptions): Promise<RebuildResult> {
  const ref = parseImageRef(o.fromImage);
  if (ref.name !== name || !ref.version)
    throw new ImageError('invalid_ref', `build image ${name}:${o.version}: --from-image must be ${name}:VERSION (got ${o.fromImage})`);
  assertVersion(o.version);
  const what = `build image ${name}:${o.version} from ${o.fromImage}`;
  const policy = o.policy ?? STRICT_POLICY;
  await mkdir(o.outDir, { recursive: true });
  const work = await mkdtemp(path.join(path.resolve(o.outDir), '.rebuild-'));
  try {
    const { tree, manifest } = await unpackImage(ref.name, ref.version, o, policy, work, what);
    const { updated, skipped } = o.update ? await updateTree(tree, o, policy, work) : { updated: [], skipped: [] };
    const built = await buildImage({
      manifest: { ...manifest, ...o.overrides, version: o.version },
      from: tree,
      outDir: o.outDir,
      workDir: work,
    });
    return { ...built, from: o.fromImage, updated, skipped };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** V1 from the image repositories: signature checked against their keys, installed into a private root without running anything. */
async function unpackImage(name: string, version: string, o: RebuildOptions, policy: FetchPolicy, work: string, what: string) {
  if (!o.imageRepos.length) throw new ImageError('not_found', `${what}: the tenant has no image repositories`);
  const index: IndexedImage[] = [];
  for (const r of o.imageRepos) index.push(...(await readRepo(r, { policy: withHttp(policy, r) })).images);
  const img = resolveImage({ name, version }, index);
  const repo = o.imageRepos.find((r) => (r.url.endsWith('/') ? r.url : `${r.url}/`) === img.repo)!;
  const root = path.join(work, 'root');
  await syncKeys(
    root,
    o.imageRepos.map((r) => r.publicKey),
    path.join(work, 'keys'),
  );
  const file = path.join(work, `${name}-${version}.rpm`);
  await downloadImage(img, file, { policy: withHttp(policy, repo), timeoutMs: DOWNLOAD_TIMEOUT_MS });
  await checkSignature(root, file);
  // --nodeps: a derivative's base need not be here, only its own layer is rebuilt
  await runOk(`${what}: unpack`, 'build_failed', 'rpm', [
    '--root',
    root,
    ...rpmDefines(),
    '--define',
    '_pkgverify_level signature',
    ...NO_CODE,
    '--nodeps',
    '-i',
    '--',
    file,
  ]);
  const manifest = await readInstalledManifest(root, name, version);
  return { tree: installedPayload(root, name, version).rootfs, manifest };
}

/** Newer trusted components installed into the tree (`rpm --root TREE -U`); untrusted ones reported. */
async function updateTree(tree: string, o: RebuildOptions, policy: FetchPolicy, work: string) {
  const { packages: installed } = await readPackages(tree, path.join(work, 'scratch'));
  const wanted = new Set(installed.map((c) => c.name));
  const candidates: Candidate[] = [];
  for (const r of o.packageRepos) {
    const idx = await readRepo(r, { policy: withHttp(policy, r), wanted });
    candidates.push(...idx.packages.map((p) => ({ ...p, repoName: r.name, publicKey: r.publicKey })));
  }
  const keep = path.join(work, 'updates');
  await mkdir(keep, { recursive: true, mode: 0o700 });
  const files = new Map<Candidate, string>();
  const updates = await componentUpdates({
    installed,
    packages: candidates,
    images: [],
    verify: async (c) => {
      const repo = o.packageRepos.find((r) => r.name === c.repoName)!;
      const v = await verifyCandidate(c, {
        scratchDir: path.join(work, 'scratch'),
        policy: withHttp(policy, repo),
        maxBytes: MAX_PACKAGE_BYTES,
        timeoutMs: DOWNLOAD_TIMEOUT_MS,
        keepIn: keep,
      });
      if (v.trusted && v.file) files.set(c, v.file);
      return v;
    },
  });
  const chosen = updates.filter((u) => u.trusted && u.candidate && files.has(u.candidate));
  if (chosen.length) {
    await runOk(`update ${tree}`, 'build_failed', 'rpm', [
      '--root',
      tree,
      ...rpmDefines(),
      '-U',
      '--',
      ...chosen.map((u) => files.get(u.candidate!)!),
    ]);
  }
  return {
    updated: chosen.map((u) => ({ name: u.name, from: u.current, to: evrString(u.candidate!), repository: u.repository })),
    skipped: updates.filter((u) => !u.trusted).map(({ candidate: _c, ...u }) => u),
  };
}
