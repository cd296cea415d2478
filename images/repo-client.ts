import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { ImageError } from './errors.js';
import { parsePrimary, parseRepomd, type RepoImage } from './repodata.js';

/** An image version together with the repository (base URL) that offers it. */
export interface IndexedImage extends RepoImage {
  repo: string;
}

export type Fetch = typeof fetch;

const base = (url: string) => (url.endsWith('/') ? url : `${url}/`);

async function get(url: string, doFetch: Fetch): Promise<Response> {
  let res: Response;
  try {
    res = await doFetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new ImageError('repo-unreachable', `fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new ImageError(res.status === 404 ? 'not-found' : 'repo-unreachable', `fetch ${url}: HTTP ${res.status}`);
  return res;
}

/** Reads repodata/repomd.xml and the primary metadata it names (checksum-checked) into a list of images. */
export async function fetchRepoIndex(repoUrl: string, doFetch: Fetch = fetch): Promise<IndexedImage[]> {
  const repomd = parseRepomd(await (await get(new URL('repodata/repomd.xml', base(repoUrl)).href, doFetch)).text());
  const url = new URL(repomd.href, base(repoUrl)).href;
  const gz = Buffer.from(await (await get(url, doFetch)).arrayBuffer());
  checkDigest(gz, repomd.checksum, `fetch ${url}`);
  const xml = (repomd.href.endsWith('.gz') ? gunzipSync(gz) : gz).toString('utf8');
  return parsePrimary(xml).map((p) => ({ ...p, repo: base(repoUrl) }));
}

/** Merges the indexes of several repositories; a repository that cannot be read fails the whole look-up. */
export async function fetchIndexes(repoUrls: string[], doFetch: Fetch = fetch): Promise<IndexedImage[]> {
  return (await Promise.all(repoUrls.map((u) => fetchRepoIndex(u, doFetch)))).flat();
}

/** Downloads an image's RPM to `dest`, checking the checksum the metadata gives. */
export async function downloadImage(image: IndexedImage, dest: string, doFetch: Fetch = fetch): Promise<void> {
  const url = new URL(image.href, image.repo).href;
  const res = await get(url, doFetch);
  if (!res.body) throw new ImageError('repo-unreachable', `fetch ${url}: empty body`);
  const hash = createHash(hashName(image.checksum.type, url));
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (b: Buffer) => hash.update(b));
  await pipeline(body, createWriteStream(dest, { mode: 0o600 }));
  const got = hash.digest('hex');
  if (got !== image.checksum.value) {
    await rm(dest, { force: true });
    throw new ImageError('checksum-mismatch', `fetch ${url}: ${image.checksum.type} ${got} differs from the repository's ${image.checksum.value}`);
  }
}

function checkDigest(data: Buffer, sum: { type: string; value: string }, op: string): void {
  const got = createHash(hashName(sum.type, op)).update(data).digest('hex');
  if (got !== sum.value) throw new ImageError('checksum-mismatch', `${op}: ${sum.type} ${got} differs from repomd.xml's ${sum.value}`);
}

function hashName(type: string, op: string): string {
  const t = type === 'sha' ? 'sha1' : type;
  if (!['sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(t)) throw new ImageError('repo-corrupt', `${op}: unsupported checksum type ${type}`);
  return t;
}
