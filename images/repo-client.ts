import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { ImageError, isImageError } from './errors.js';
import { byteCap, openGuarded, readCapped, type FetchPolicy } from './http-get.js';
import { PrimaryReader, parseRepomd, type RepoImage, type RepoPackage, type RepomdEntry } from './repodata.js';
import { verifyRepomd } from './repomd-sig.js';

/** An image version together with the repository (base URL) that offers it. */
export interface IndexedImage extends RepoImage {
  repo: string;
}

/** Byte caps on what a repository may send (each documented in docs/images.md). */
export interface RepoLimits {
  repomdBytes: number;
  signatureBytes: number;
  /** primary.xml(.gz) as downloaded. */
  primaryBytes: number;
  /** primary.xml once decompressed: a gzip bomb stops here, streamed, never in memory. */
  primaryXmlBytes: number;
  packageBytes: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_LIMITS: RepoLimits = {
  repomdBytes: 1 * MiB,
  signatureBytes: 64 * 1024,
  primaryBytes: 32 * MiB,
  primaryXmlBytes: 128 * MiB,
  packageBytes: 4096 * MiB,
};

/** https only, global addresses only, 30 s per request: what a caller gets without saying more. */
export const STRICT_POLICY: FetchPolicy = { address: { allowCidrs: [] }, allowHttp: false, timeoutMs: 30_000 };

/**
 * The node's policy: its repository URLs come from the controller's view, which vetted
 * scheme and addresses under the admin's allow-list (the node has no allow-list of its own).
 */
export const NODE_POLICY: FetchPolicy = { address: { allowCidrs: ['0.0.0.0/0', '::/0'] }, allowHttp: true, timeoutMs: 30_000 };

/** What is known of a repository before reading it. */
export interface RepoSource {
  url: string;
  /** The admin allowed plain http for this repository. */
  allowHttp?: boolean;
  /** ASCII-armoured key: repomd.xml.asc, when published, must verify with it. */
  publicKey?: string;
  /** The newest metadata seen before (controller: the repository's row); older is a rollback. */
  seen?: RepoRevision;
}

/** How new a repository's metadata is. */
export interface RepoRevision {
  /** repomd.xml `<revision>` when it is a number (createrepo_c: publish time, seconds). */
  revision?: number | null;
  /** The primary data's `<timestamp>`. */
  timestamp?: number | null;
  /** A valid repomd.xml.asc was seen: from then on an unsigned repomd.xml is refused. */
  signed?: boolean;
}

/** An ordinary package together with the repository (base URL) that offers it. */
export interface IndexedPackage extends RepoPackage {
  repo: string;
}

export interface RepoIndex extends RepoRevision {
  images: IndexedImage[];
  /** Ordinary packages named in FetchOptions.wanted. */
  packages: IndexedPackage[];
  signed: boolean;
}

export interface FetchOptions {
  policy?: FetchPolicy;
  limits?: Partial<RepoLimits>;
  /** Names of ordinary packages to keep from primary.xml (a container's components); images are always kept. */
  wanted?: ReadonlySet<string>;
}

const base = (url: string) => (url.endsWith('/') ? url : `${url}/`);
/** A location from the repository's metadata, resolved against its base; a malformed one is the repository's fault. */
function join(href: string, baseUrl: string, what: string): string {
  try {
    return new URL(href, base(baseUrl)).href;
  } catch {
    throw new ImageError('repo_corrupt', `${what}: bad location ${JSON.stringify(href.slice(0, 200))}`);
  }
}
const numeric = (s: string | undefined) => (s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : undefined);

function policyFor(src: RepoSource, o: FetchOptions): FetchPolicy {
  const p = o.policy ?? STRICT_POLICY;
  return { ...p, allowHttp: p.allowHttp || src.allowHttp === true };
}

async function readSmall(url: string, p: FetchPolicy, max: number, shown: string): Promise<Buffer> {
  return readCapped(await openGuarded(url, p, shown), max, shown);
}

/** repomd.xml.asc: checked when present; absent is fine unless a signed one was seen before. */
async function checkSigned(src: RepoSource, repomd: Buffer, p: FetchPolicy, lim: RepoLimits): Promise<boolean> {
  if (!src.publicKey) return false;
  const url = join('repodata/repomd.xml.asc', src.url, `fetch ${src.url}`);
  let sig: Buffer;
  try {
    sig = await readSmall(url, p, lim.signatureBytes, url);
  } catch (e) {
    if (!isImageError(e, 'not_found')) throw e;
    if (src.seen?.signed)
      throw new ImageError(
        'repo_bad_signature',
        `fetch ${src.url}: repomd.xml.asc is gone, but this repository's metadata was signed before`,
      );
    return false;
  }
  await verifyRepomd(src.publicKey, repomd, sig, `fetch ${src.url}`);
  return true;
}

/** Refuses metadata older than what was seen: a replayed (even correctly signed) repomd.xml. */
export function checkRevision(seen: RepoRevision | undefined, now: RepoRevision, what: string): void {
  for (const k of ['revision', 'timestamp'] as const) {
    const before = seen?.[k];
    if (before === null || before === undefined) continue;
    const got = now[k];
    if (got === null || got === undefined || got < before) {
      throw new ImageError(
        'repo_rollback',
        `${what}: metadata ${k} ${got ?? 'missing'} is older than ${before}, already seen from this repository`,
      );
    }
  }
}

/**
 * Reads repodata/repomd.xml (capped, signature checked, rollback refused) and the
 * primary metadata it names: streamed through a byte cap, the checksum, gunzip (zlib's
 * thread pool, never a synchronous gunzip on the event loop), a second cap on the
 * decompressed bytes and the XML reader.
 */
export async function readRepo(src: RepoSource, o: FetchOptions = {}): Promise<RepoIndex> {
  const p = policyFor(src, o);
  const lim = { ...DEFAULT_LIMITS, ...o.limits };
  const repomdUrl = join('repodata/repomd.xml', src.url, `fetch ${src.url}`);
  const raw = await readSmall(repomdUrl, p, lim.repomdBytes, src.url);
  const repomd = parseRepomd(raw.toString('utf8'));
  const signed = await checkSigned(src, raw, p, lim);
  const rev: RepoRevision = { revision: numeric(repomd.revision), timestamp: repomd.timestamp };
  checkRevision(src.seen, rev, `fetch ${src.url}`);
  const reader = new PrimaryReader(o.wanted);
  await readPrimary(join(repomd.href, src.url, `fetch ${src.url}`), repomd, p, lim, src.url, reader);
  const repo = base(src.url);
  return {
    images: reader.images.map((i) => ({ ...i, repo })),
    packages: reader.packages.map((i) => ({ ...i, repo })),
    ...rev,
    signed,
  };
}

async function readPrimary(
  url: string,
  md: RepomdEntry,
  p: FetchPolicy,
  lim: RepoLimits,
  shown: string,
  reader: PrimaryReader,
): Promise<void> {
  const hash = createHash(hashName(md.checksum.type, `fetch ${url}`));
  const decoder = new StringDecoder('utf8');
  const o = await openGuarded(url, p, shown);
  const stages: NodeJS.ReadWriteStream[] = [byteCap(Math.min(lim.primaryBytes, md.size ?? Infinity), `fetch ${url}`), tap(hash)];
  if (md.href.endsWith('.gz')) stages.push(createGunzip(), byteCap(lim.primaryXmlBytes, `fetch ${url}: decompressed`));
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      try {
        reader.write(decoder.write(chunk));
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  try {
    await pipeline([o.res, ...stages, sink]);
  } catch (e) {
    o.abort();
    if (e instanceof ImageError) throw e;
    // zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR) are the repository's content, not the network
    if (String((e as { code?: unknown }).code).startsWith('Z_'))
      throw new ImageError('repo_corrupt', `fetch ${url}: not valid gzip`, { cause: e });
    throw new ImageError('repo_unreachable', `fetch ${shown}: repository unreachable`, { cause: e });
  }
  const got = hash.digest('hex');
  if (got !== md.checksum.value)
    throw new ImageError('checksum_mismatch', `fetch ${url}: ${md.checksum.type} ${got} differs from repomd.xml's ${md.checksum.value}`);
  reader.write(decoder.end());
  reader.end();
}

/** Reads repodata/repomd.xml and the primary metadata it names (checksum-checked) into a list of images. */
export async function fetchRepoIndex(repo: string | RepoSource, o: FetchOptions = {}): Promise<IndexedImage[]> {
  return (await readRepo(typeof repo === 'string' ? { url: repo } : repo, o)).images;
}

/** Merges the indexes of several repositories; a repository that cannot be read fails the whole look-up. */
export async function fetchIndexes(repos: Array<string | RepoSource>, o: FetchOptions = {}): Promise<IndexedImage[]> {
  return (await Promise.all(repos.map((r) => fetchRepoIndex(r, o)))).flat();
}

/** Downloads an image's (or package's) RPM to `dest`: capped to its declared size, checking the checksum the metadata gives. */
export async function downloadImage(
  image: IndexedImage | IndexedPackage,
  dest: string,
  o: FetchOptions & { timeoutMs?: number } = {},
): Promise<void> {
  const url = join(image.href, image.repo, `fetch ${image.repo}`);
  const lim = { ...DEFAULT_LIMITS, ...o.limits };
  const p = { ...(o.policy ?? STRICT_POLICY), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) };
  const hash = createHash(hashName(image.checksum.type, url));
  const opened = await openGuarded(url, p);
  try {
    await pipeline(
      opened.res,
      byteCap(Math.min(lim.packageBytes, image.size ?? Infinity), `fetch ${url}`),
      tap(hash),
      createWriteStream(dest, { mode: 0o600 }),
    );
  } catch (e) {
    opened.abort();
    await rm(dest, { force: true });
    if (e instanceof ImageError) throw e;
    throw new ImageError('repo_unreachable', `fetch ${url}: download interrupted`, { cause: e });
  }
  const got = hash.digest('hex');
  if (got !== image.checksum.value) {
    await rm(dest, { force: true });
    throw new ImageError(
      'checksum_mismatch',
      `fetch ${url}: ${image.checksum.type} ${got} differs from the repository's ${image.checksum.value}`,
    );
  }
}

/** A pass-through that feeds a hash. */
function tap(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

function hashName(type: string, op: string): string {
  const t = type === 'sha' ? 'sha1' : type;
  if (!['sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(t))
    throw new ImageError('repo_corrupt', `${op}: unsupported checksum type ${type}`);
  return t;
}

export type { FetchPolicy };
