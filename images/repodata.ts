import { ImageError } from './errors.js';
import { PKG_PREFIX } from './ref.js';

/** One image version a repository offers, read from primary.xml. */
export interface RepoImage {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  /** Package file, relative to the repository's base URL. */
  href: string;
  checksum: { type: string; value: string };
  /** The base image this version requires (derivative images). */
  base?: { name: string; version: string };
}

export interface RepomdEntry {
  href: string;
  checksum: { type: string; value: string };
}

/** Finds the primary metadata in repodata/repomd.xml. */
export function parseRepomd(xml: string): RepomdEntry {
  const block = /<data\s+type="primary"\s*>([\s\S]*?)<\/data>/.exec(xml)?.[1];
  const href = block && attr(/<location\b[^>]*>/.exec(block)?.[0], 'href');
  const checksum = block && checksumOf(block);
  if (!href || !checksum) throw new ImageError('repo-corrupt', 'read repomd.xml: no primary data with location and checksum');
  return { href, checksum };
}

/** Lists the image packages (`freight-image-*`) of primary.xml; other packages are ignored. */
export function parsePrimary(xml: string): RepoImage[] {
  const out: RepoImage[] = [];
  for (const m of xml.matchAll(/<package\b[^>]*>([\s\S]*?)<\/package>/g)) {
    const p = parsePackage(m[1]);
    if (p) out.push(p);
  }
  return out;
}

function parsePackage(body: string): RepoImage | undefined {
  const pkg = unescapeXml(/<name>([^<]*)<\/name>/.exec(body)?.[1] ?? '');
  if (!pkg.startsWith(PKG_PREFIX)) return undefined;
  const ver = /<version\b[^>]*>/.exec(body)?.[0];
  const href = attr(/<location\b[^>]*>/.exec(body)?.[0], 'href');
  const checksum = checksumOf(body);
  const version = attr(ver, 'ver');
  if (!ver || !href || !checksum || !version) throw new ImageError('repo-corrupt', `read primary.xml: package ${pkg} lacks version, location or checksum`);
  return {
    name: pkg.slice(PKG_PREFIX.length),
    epoch: Number(attr(ver, 'epoch') ?? 0),
    version,
    release: attr(ver, 'rel') ?? '',
    arch: unescapeXml(/<arch>([^<]*)<\/arch>/.exec(body)?.[1] ?? ''),
    href,
    checksum,
    base: baseOf(body),
  };
}

/** `Requires: freight-image(BASE) = VERSION` in the package's requires list. */
function baseOf(body: string): RepoImage['base'] {
  const requires = /<rpm:requires>([\s\S]*?)<\/rpm:requires>/.exec(body)?.[1] ?? '';
  for (const e of requires.matchAll(/<rpm:entry\b[^>]*>/g)) {
    const name = /^freight-image\(([^)]+)\)$/.exec(attr(e[0], 'name') ?? '')?.[1];
    const version = attr(e[0], 'ver');
    if (name && version) return { name, version };
  }
  return undefined;
}

function checksumOf(body: string): RepoImage['checksum'] | undefined {
  const m = /<checksum\b([^>]*)>([^<]*)<\/checksum>/.exec(body);
  const type = m && attr(`<c ${m[1]}>`, 'type');
  return m && type ? { type, value: m[2].trim() } : undefined;
}

function attr(tag: string | undefined, name: string): string | undefined {
  if (!tag) return undefined;
  const v = new RegExp(`\\s${name.replace(/[:]/g, '\\$&')}="([^"]*)"`).exec(tag)?.[1];
  return v === undefined ? undefined : unescapeXml(v);
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_, e: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' }[e as 'lt'] ?? '';
  });
}
