import { ImageError } from './errors.js';
import { PKG_PREFIX } from './ref.js';
import { parseXml, XmlStream } from './xml.js';

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
  /** Package size in bytes as primary.xml declares it (the download is capped to it). */
  size?: number;
  /** The packages built into it (`Provides: freight-component(NAME) = E:V-R`, written by `image build`). */
  components?: ComponentVersion[];
}

/** A package name at one epoch:version-release. */
export interface ComponentVersion {
  name: string;
  epoch: number;
  version: string;
  release: string;
}

/** An ordinary package a (package) repository offers: what a container's component may be updated to. */
export interface RepoPackage extends ComponentVersion {
  arch: string;
  href: string;
  checksum: { type: string; value: string };
  size?: number;
}

/** What of an image's provides names a component. */
export const COMPONENT_RE = /^freight-component\(([A-Za-z0-9_+][A-Za-z0-9._+-]{0,199})\)$/;
const EVR_PART = /^[A-Za-z0-9._+~^]{1,128}$/;

export interface RepomdEntry {
  href: string;
  checksum: { type: string; value: string };
  /** `<size>` of the (compressed) file, when given: its download is capped to it. */
  size?: number;
  /** `<timestamp>` of the primary data, seconds. */
  timestamp?: number;
  /** `<revision>` of repomd.xml (createrepo_c: the publish time in seconds, unless set). */
  revision?: string;
}

const num = (s: string | undefined): number | undefined => (s !== undefined && /^\d{1,15}$/.test(s.trim()) ? Number(s.trim()) : undefined);

/** Finds the primary metadata (and the revision) in repodata/repomd.xml. */
export function parseRepomd(xml: string): RepomdEntry {
  let inPrimary = false;
  let text = '';
  const got: Record<string, string> = {};
  parseXml('repomd.xml', xml, {
    open(name, attrs, depth) {
      text = '';
      if (name === 'data' && depth === 2 && attrs.type === 'primary' && !got.href) inPrimary = true;
      if (inPrimary && name === 'location') got.href = attrs.href ?? '';
      if (inPrimary && name === 'checksum') got.csType = attrs.type ?? '';
    },
    close(name, depth) {
      if (name === 'revision' && depth === 2) got.revision = text.trim();
      if (inPrimary && depth === 3 && ['checksum', 'timestamp', 'size'].includes(name)) got[name] = text.trim();
      if (name === 'data') inPrimary = false;
    },
    text(t) {
      text += t;
    },
  });
  if (!got.href || !got.csType || !got.checksum)
    throw new ImageError('repo_corrupt', 'read repomd.xml: no primary data with location and checksum');
  return {
    href: got.href,
    checksum: { type: got.csType, value: got.checksum },
    size: num(got.size),
    timestamp: num(got.timestamp),
    revision: got.revision,
  };
}

/** Fields of one <package> while it is being read. */
interface Draft {
  name: string;
  arch: string;
  ver?: Record<string, string>;
  href?: string;
  csType?: string;
  cs: string;
  size?: string;
  base?: RepoImage['base'];
  components: ComponentVersion[];
}

/** At most this many components per image are kept (a hostile repository cannot grow an image's entry without bound). */
const MAX_COMPONENTS = 20_000;

/**
 * Reads primary.xml as it streams in, keeping only the image packages
 * (`freight-image-*`): memory grows with the images offered, not with the document.
 */
export class PrimaryReader {
  readonly images: RepoImage[] = [];
  /** Ordinary packages named in `wanted` (all versions offered); none unless asked. */
  readonly packages: RepoPackage[] = [];
  private readonly xml: XmlStream;
  private d: Draft | undefined;
  private field = '';
  private inRequires = false;
  private inProvides = false;

  /** `wanted`: names of ordinary packages to keep (a container's components); images are always kept. */
  constructor(private readonly wanted?: ReadonlySet<string>) {
    this.xml = new XmlStream('primary.xml', {
      open: (name, attrs) => this.open(name, attrs),
      close: (name) => this.close(name),
      text: (t) => {
        if (this.d && this.field === 'name') this.d.name += t;
        else if (this.d && this.field === 'arch') this.d.arch += t;
        else if (this.d && this.field === 'checksum') this.d.cs += t;
      },
    });
  }

  write(chunk: string): void {
    this.xml.write(chunk);
  }

  end(): RepoImage[] {
    this.xml.end();
    return this.images;
  }

  private open(name: string, attrs: Record<string, string>): void {
    if (name === 'package') {
      this.d = { name: '', arch: '', cs: '', components: [] };
      return;
    }
    const d = this.d;
    if (!d) return;
    this.field = name;
    if (name === 'version') d.ver = attrs;
    else if (name === 'location') d.href = attrs.href;
    else if (name === 'checksum') d.csType = attrs.type;
    else if (name === 'size') d.size = attrs.package;
    else if (name === 'rpm:requires') this.inRequires = true;
    else if (name === 'rpm:provides') this.inProvides = true;
    else if (name === 'rpm:entry' && this.inProvides) this.provide(d, attrs);
    else if (name === 'rpm:entry' && this.inRequires && !d.base) {
      const base = /^freight-image\(([^)]+)\)$/.exec(attrs.name ?? '')?.[1];
      if (base && attrs.ver) d.base = { name: base, version: attrs.ver };
    }
  }

  private close(name: string): void {
    this.field = '';
    if (name === 'rpm:requires') this.inRequires = false;
    if (name === 'rpm:provides') this.inProvides = false;
    if (name !== 'package' || !this.d) return;
    const img = finish(this.d);
    if (img) this.images.push(img);
    else if (this.wanted?.has(this.d.name)) {
      const pkg = finishPackage(this.d);
      if (pkg) this.packages.push(pkg);
    }
    this.d = undefined;
  }

  /** `freight-component(NAME)` with flags EQ and a well-formed version: a component the image contains. */
  private provide(d: Draft, a: Record<string, string>): void {
    const m = COMPONENT_RE.exec(a.name ?? '');
    if (!m || a.flags !== 'EQ' || !EVR_PART.test(a.ver ?? '') || d.components.length >= MAX_COMPONENTS) return;
    if (a.rel !== undefined && !EVR_PART.test(a.rel)) return;
    d.components.push({ name: m[1], epoch: num(a.epoch) ?? 0, version: a.ver, release: a.rel ?? '' });
  }
}

/** An ordinary package's entry; a malformed one is skipped (a mirror's odd entry must not hide the rest). */
function finishPackage(d: Draft): RepoPackage | undefined {
  const v = d.ver;
  if (!v?.ver || !EVR_PART.test(v.ver) || (v.rel && !EVR_PART.test(v.rel)) || !d.href || !d.csType || !d.cs.trim()) return undefined;
  return {
    name: d.name,
    epoch: num(v.epoch) ?? 0,
    version: v.ver,
    release: v.rel ?? '',
    arch: d.arch.trim(),
    href: d.href,
    checksum: { type: d.csType, value: d.cs.trim() },
    ...(num(d.size) !== undefined ? { size: num(d.size) } : {}),
  };
}

function finish(d: Draft): RepoImage | undefined {
  if (!d.name.startsWith(PKG_PREFIX)) return undefined;
  const version = d.ver?.ver;
  if (!d.ver || !version || !d.href || !d.csType || !d.cs.trim()) {
    throw new ImageError('repo_corrupt', `read primary.xml: package ${d.name} lacks version, location or checksum`);
  }
  return {
    name: d.name.slice(PKG_PREFIX.length),
    epoch: num(d.ver.epoch) ?? 0,
    version,
    release: d.ver.rel ?? '',
    arch: d.arch,
    href: d.href,
    checksum: { type: d.csType, value: d.cs.trim() },
    base: d.base,
    ...(num(d.size) !== undefined ? { size: num(d.size) } : {}),
    ...(d.components.length ? { components: d.components } : {}),
  };
}

/** Lists the image packages (`freight-image-*`) of primary.xml held in memory; other packages are ignored. */
export function parsePrimary(xml: string): RepoImage[] {
  const r = new PrimaryReader();
  r.write(xml);
  return r.end();
}
