import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { checkSignature, syncKeys } from './keyring.js';
import { checkPackage } from './inspect.js';
import { installRpm, isInstalled } from './install.js';
import { imageLayers, type Layers } from './layers.js';
import { downloadImage, fetchIndexes, NODE_POLICY, type FetchPolicy, type IndexedImage, type RepoLimits } from './repo-client.js';
import { resolveImage } from './resolve.js';
import type { ImageRef } from './ref.js';
import { ensureImagesRoot, incomingDir, tenantRoot } from './rpmroot.js';

/** A repository a tenant may use: its base URL and the public key its images are signed with. */
export interface TenantRepo {
  url: string;
  /** ASCII-armoured OpenPGP public key. */
  publicKey: string;
}

export interface PullOptions {
  stateDir: string;
  tenant: string;
  /** `NAME[:VERSION]`; without a version, the newest one offered. */
  ref: string | ImageRef;
  repos: TenantRepo[];
  /** Default NODE_POLICY: the URLs come from the controller, which vetted them (docs/images.md). */
  policy?: FetchPolicy;
  limits?: Partial<RepoLimits>;
  /** Called once per version actually downloaded and installed (for logs). */
  onInstall?: (image: IndexedImage) => void;
}

export interface PullResult extends Layers {
  name: string;
  version: string;
  root: string;
}

/**
 * Node side of an image: read the tenant's repositories, resolve the version,
 * then for the image and (first) its base: download, verify the signature
 * against the tenant's keys, and only then install it into the tenant's rpm
 * root. Versions already installed are reused, never fetched again.
 */
export async function pullImage(opts: PullOptions): Promise<PullResult> {
  const root = tenantRoot(opts.stateDir, opts.tenant);
  const scratch = incomingDir(opts.stateDir);
  await ensureImagesRoot(opts.stateDir);
  await syncKeys(
    root,
    opts.repos.map((r) => r.publicKey),
    scratch,
  );
  const index = await fetchIndexes(opts.repos, { policy: opts.policy ?? NODE_POLICY, limits: opts.limits });
  const image = resolveImage(opts.ref, index);
  await ensureInstalled(root, image, index, scratch, opts, 0);
  return { ...(await imageLayers(root, image.name, image.version)), name: image.name, version: image.version, root };
}

async function ensureInstalled(
  root: string,
  image: IndexedImage,
  index: IndexedImage[],
  scratch: string,
  opts: PullOptions,
  depth: number,
): Promise<void> {
  if (await isInstalled(root, image.name, image.version)) return;
  if (image.base && depth < 16) {
    await ensureInstalled(
      root,
      resolveImage({ name: image.base.name, version: image.base.version }, index),
      index,
      scratch,
      opts,
      depth + 1,
    );
  }
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(scratch, `${image.name}-`));
  try {
    // the repository's href is the tenant's string (`..`, `-x`, …): its base name only if plain
    const base = path.basename(image.href);
    const file = path.join(dir, /^[A-Za-z0-9][A-Za-z0-9._+~^-]*\.rpm$/.test(base) ? base : `${image.name}-${image.version}.rpm`);
    // a package may take longer than metadata: 10 minutes for the whole download
    await downloadImage(image, file, { policy: opts.policy ?? NODE_POLICY, limits: opts.limits, timeoutMs: 600_000 });
    await checkSignature(root, file);
    await checkPackage(file, image);
    await installRpm(root, file);
    opts.onInstall?.(image);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
