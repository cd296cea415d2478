import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { ImageError, isImageError } from './errors.js';
import { checkSignature, syncKeys } from './keyring.js';
import { evrString, type Component } from './packages.js';
import { parseImageRef } from './ref.js';
import { downloadImage, type FetchPolicy, type IndexedImage, type IndexedPackage } from './repo-client.js';
import { compareEvr } from './rpmvercmp.js';

/** A package offered by one of the tenant's package repositories, with that repository's name and key. */
export interface Candidate extends IndexedPackage {
  repoName: string;
  publicKey: string;
  /** The admin allowed plain http for its repository. */
  allowHttp?: boolean;
}

/** One component with a newer version somewhere in the tenant's repositories. */
export interface ComponentUpdate {
  name: string;
  arch: string;
  /** `[epoch:]version-release` installed. */
  current: string;
  /** The newest trusted version offered, or (untrusted) the newest offered. */
  newest: string;
  /** The repository offering `newest` (a package repository, or the image repository of `image`). */
  repository: string;
  /** Signed by the key registered for `repository`; false: reported only, never used for an update. */
  trusted: boolean;
  /** Why it is not trusted (unsigned, or signed by a key the tenant has not registered). */
  reason?: string;
  /** The oldest newer version of the container's image that already contains a newer version of it, `NAME:VERSION`. */
  image: string | null;
  /** The package to update to (trusted package updates only): what `image build --update` installs. */
  candidate?: Candidate;
}

/** Architectures that may replace each other: the same, or noarch either way (as dnf allows). */
const archFits = (installed: string, offered: string) => installed === offered || installed === 'noarch' || offered === 'noarch';

/** The package repositories' versions of `c` newer than installed, newest first (pure). */
export function newerCandidates(c: Component, offered: readonly Candidate[]): Candidate[] {
  return offered
    .filter((p) => p.name === c.name && archFits(c.arch, p.arch) && compareEvr(p, c) > 0)
    .sort((a, b) => compareEvr(b, a) || (a.repoName < b.repoName ? -1 : 1));
}

/** The oldest version of `imageRef`'s image newer than it whose recorded components have `c` newer than installed (pure). */
export function imageWithNewer(c: Component, imageRef: string | undefined, images: readonly IndexedImage[]): IndexedImage | undefined {
  if (!imageRef) return undefined;
  const ref = parseImageRef(imageRef);
  if (!ref.version) return undefined;
  const current = images.find((i) => i.name === ref.name && i.version === ref.version);
  const cur = current ?? { version: ref.version, release: '' };
  return images
    .filter((i) => i.name === ref.name && compareEvr(i, { ...cur, release: i.release }) > 0)
    .filter((i) => i.components?.some((x) => x.name === c.name && compareEvr(x, c) > 0))
    .sort((a, b) => compareEvr(a, b))[0];
}

export type Verdict = { trusted: true } | { trusted: false; reason: string };

export interface UpdateInput {
  installed: readonly Component[];
  packages: readonly Candidate[];
  /** The tenant's image repositories' index (images carry their components) and the container's `NAME:VERSION`. */
  images: readonly IndexedImage[];
  image?: string;
  /** Repository base URL → its name, for image repositories. */
  repoNames?: ReadonlyMap<string, string>;
  /** Checks a candidate's signature against its repository's key (downloads it). */
  verify(c: Candidate): Promise<Verdict>;
  /** At most this many signature checks in all (each is a download). */
  maxChecks?: number;
}

/**
 * The components with newer versions: for each, the newest package-repository version signed
 * by its repository's key (untrusted newer ones are reported above it, never chosen), or a
 * newer image version containing it. Candidates are checked newest first, up to three per
 * component and `maxChecks` in all; past that a candidate is reported unchecked (untrusted).
 */
export async function componentUpdates(inp: UpdateInput): Promise<ComponentUpdate[]> {
  let checks = inp.maxChecks ?? 64;
  const out: ComponentUpdate[] = [];
  for (const c of inp.installed) {
    const img = imageWithNewer(c, inp.image, inp.images);
    const inImage = img ? `${img.name}:${img.version}` : null;
    const base = { name: c.name, arch: c.arch, current: evrString(c), image: inImage };
    let trustedFound = false;
    for (const [i, cand] of newerCandidates(c, inp.packages).entries()) {
      if (i >= 3 || checks <= 0) {
        out.push({
          ...base,
          newest: evrString(cand),
          repository: cand.repoName,
          trusted: false,
          reason: 'not checked (too many candidates)',
        });
        break;
      }
      checks--;
      const v = await inp.verify(cand);
      if (v.trusted) {
        out.push({ ...base, newest: evrString(cand), repository: cand.repoName, trusted: true, candidate: cand });
        trustedFound = true;
        break;
      }
      out.push({ ...base, newest: evrString(cand), repository: cand.repoName, trusted: false, reason: v.reason });
    }
    if (!trustedFound && img) {
      const x = img.components!.find((y) => y.name === c.name)!;
      out.push({ ...base, newest: evrString(x), repository: inp.repoNames?.get(img.repo) ?? img.repo, trusted: true });
    }
  }
  return out;
}

export interface VerifyOptions {
  /** Private scratch space (0700): downloads and a throw-away rpm keyring. */
  scratchDir: string;
  policy: FetchPolicy;
  /** Bytes of one package at most (and its declared size). */
  maxBytes: number;
  timeoutMs: number;
  /** Keep the verified file here (the builder installs it); otherwise it is removed. */
  keepIn?: string;
}

/**
 * Downloads a candidate (capped, checksum from the repository's metadata) and checks its
 * signature with `rpmkeys --checksig` against a keyring holding only its repository's key.
 * An unsigned package or one signed by another key is untrusted, with the reason.
 */
export async function verifyCandidate(c: Candidate, o: VerifyOptions): Promise<Verdict & { file?: string }> {
  await mkdir(o.scratchDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(o.scratchDir, 'verify-'));
  try {
    const file = path.join(
      o.keepIn ?? dir,
      `${c.name}-${evrString(c).replace(/:/g, '_')}.${/^[A-Za-z0-9_]+$/.test(c.arch) ? c.arch : 'pkg'}.rpm`,
    );
    const policy = { ...o.policy, allowHttp: o.policy.allowHttp || c.allowHttp === true };
    await downloadImage(c, file, { policy, limits: { packageBytes: o.maxBytes }, timeoutMs: o.timeoutMs });
    const root = path.join(dir, 'root');
    await syncKeys(root, [c.publicKey], path.join(dir, 'keys'));
    try {
      await checkSignature(root, file);
    } catch (e) {
      if (!isImageError(e)) throw e;
      if (!['unsigned', 'unknown_key', 'bad_signature', 'tampered'].includes(e.code)) throw e;
      const own = `not the key registered for repository ${c.repoName}`;
      const bare = e.message.replace(/^verify [^:]*: /, '');
      const reason = e.code === 'unknown_key' ? bare.replace("which is not among the tenant's repository keys", own) : bare;
      if (o.keepIn) await rm(file, { force: true });
      return { trusted: false, reason };
    }
    return { trusted: true, ...(o.keepIn ? { file } : {}) };
  } catch (e) {
    if (isImageError(e, 'checksum_mismatch')) return { trusted: false, reason: e.message };
    throw e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export { ImageError };
