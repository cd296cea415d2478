import os from 'node:os';
import path from 'node:path';
import { isImageError } from '../../images/errors.js';
import type { Component } from '../../images/packages.js';
import type { IndexedImage } from '../../images/repo-client.js';
import { componentUpdates, verifyCandidate, type Candidate, type ComponentUpdate, type Verdict } from '../../images/updates.js';
import { ApiError } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { listImageRepos } from './repos-store.js';
import { controllerPolicy, readIndex, type ResolveDeps } from './resolve.js';

/** A package the controller checks is downloaded once per (repository, checksum): at most this big, this slow. */
const VERIFY_MAX_BYTES = 512 * 1024 * 1024;
const VERIFY_TIMEOUT_MS = 60_000;
const MAX_VERDICTS = 10_000;

/** Signature verdicts the controller has reached, by repository URL and package checksum (a package never changes under its checksum). */
export type VerdictCache = Map<string, Verdict>;

export interface ComponentDeps extends ResolveDeps {
  verdicts?: VerdictCache;
  /** Scratch space for downloads and throw-away keyrings (default: the system temp directory). */
  scratchDir?: string;
}

/** The tenant's package repositories' versions of the named packages, each with its repository's name and key. */
export async function packageCandidates(
  q: Queryable,
  tenant: string,
  names: ReadonlySet<string>,
  op: string,
  d: ResolveDeps,
): Promise<Candidate[]> {
  const repos = await listImageRepos(q, tenant, 'package');
  const lists = await Promise.all(
    repos.map(async (r) =>
      (await readIndex(q, r, tenant, op, d, { kind: 'package', wanted: names })).packages.map((p) => ({
        ...p,
        repoName: r.name,
        publicKey: r.publicKey,
        allowHttp: r.allowHttp,
      })),
    ),
  );
  return lists.flat();
}

/** Image repositories' index (with each version's components) and URL → name; empty for a tenant without any. */
export async function imageIndexOf(q: Queryable, tenant: string, op: string, d: ResolveDeps) {
  const repos = await listImageRepos(q, tenant);
  const images: IndexedImage[] = (await Promise.all(repos.map((r) => readIndex(q, r, tenant, op, d)))).flatMap((x) => x.images);
  const names = new Map(repos.map((r) => [r.url.endsWith('/') ? r.url : `${r.url}/`, r.name]));
  return { images, names };
}

/** Downloads and checks a candidate against its repository's key, once per checksum. */
function verifier(d: ComponentDeps): (c: Candidate) => Promise<Verdict> {
  const cache = (d.verdicts ??= new Map());
  return async (c) => {
    const key = `${c.repo}|${c.checksum.type}:${c.checksum.value}|${c.publicKey.length}`;
    const hit = cache.get(key);
    if (hit) return hit;
    let v: Verdict;
    try {
      const r = await verifyCandidate(c, {
        scratchDir: d.scratchDir ?? path.join(os.tmpdir(), 'freight-controller-verify'),
        policy: { ...controllerPolicy(d, VERIFY_TIMEOUT_MS) },
        maxBytes: VERIFY_MAX_BYTES,
        timeoutMs: VERIFY_TIMEOUT_MS,
      });
      v = r.trusted ? { trusted: true } : { trusted: false, reason: r.reason };
    } catch (e) {
      // unreachable now is not a verdict: report it, do not remember it
      d.log?.warn({ repository: c.repoName, code: isImageError(e) ? e.code : undefined, err: e }, 'package signature check failed');
      return { trusted: false, reason: 'could not be downloaded for its signature check' };
    }
    if (cache.size >= MAX_VERDICTS) cache.clear();
    cache.set(key, v);
    return v;
  };
}

/**
 * What of a root's components has newer versions in the tenant's repositories: its package
 * repositories (newest signed by the repository's key; others reported as untrusted) and newer
 * versions of `image` that contain them.
 */
export async function updatesFor(
  q: Queryable,
  tenant: string,
  installed: readonly Component[],
  image: string | undefined,
  op: string,
  d: ComponentDeps,
): Promise<ComponentUpdate[]> {
  const names = new Set(installed.map((c) => c.name));
  const [packages, idx] = await Promise.all([
    packageCandidates(q, tenant, names, op, d),
    image?.includes(':') ? imageIndexOf(q, tenant, op, d) : Promise.resolve({ images: [], names: new Map<string, string>() }),
  ]);
  const updates = await componentUpdates({
    installed,
    packages,
    images: idx.images,
    image: image?.includes(':') ? image : undefined,
    repoNames: idx.names,
    verify: verifier(d),
  });
  return updates.map(({ candidate: _c, ...u }) => u);
}

export function nodeError(op: string, node: string, err: unknown): ApiError {
  return new ApiError('node_unavailable', `${op}: node ${node}: ${(err as Error).message}`, undefined, { cause: err });
}
