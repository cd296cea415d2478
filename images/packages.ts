import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ImageError } from './errors.js';
import { run } from './exec.js';
import { RPM_DBPATH } from './rpmroot.js';

/** One package of an image's (or container's) root, as the root's own rpm database records it. */
export interface Component {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  /** The key id (16 hex digits) of its signature, null when it was installed unsigned. */
  key: string | null;
}

export interface ReadPackagesResult {
  packages: Component[];
  /** Records dropped because a field was not what rpm would write (a hostile or damaged database). */
  invalid: number;
  /** More than `maxPackages` (or the output cap): the list stops there. */
  truncated: boolean;
}

export interface PackageLimits {
  /** Bytes of database files copied out of the root. */
  dbBytes: number;
  /** Bytes of `rpm -qa` output read. */
  outputBytes: number;
  maxPackages: number;
  timeoutMs: number;
}

export const PACKAGE_LIMITS: PackageLimits = {
  dbBytes: 512 * 1024 * 1024,
  outputBytes: 8 * 1024 * 1024,
  maxPackages: 20_000,
  timeoutMs: 30_000,
};

/** The database files rpm's backends use (sqlite, ndb, bdb's Packages); nothing else is copied. */
const DB_FILES = ['rpmdb.sqlite', 'rpmdb.sqlite-wal', 'rpmdb.sqlite-shm', 'Packages.db', 'Index.db', 'Packages'];
const US = '\x1f';
const RS = '\x1e';
/** Signature key of each package: header-only RSA/DSA (rpm ≥ 4.14 signs these), else the legacy header+payload ones. */
const QF = [
  '%{NAME}',
  '%{EPOCH}',
  '%{VERSION}',
  '%{RELEASE}',
  '%{ARCH}',
  '%|RSAHEADER?{%{RSAHEADER:pgpsig}}:{%|DSAHEADER?{%{DSAHEADER:pgpsig}}:{%|SIGPGP?{%{SIGPGP:pgpsig}}:{}|}|}|',
].join(US);

const NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,199}$/;
const EVR = /^[A-Za-z0-9._+~^]{1,128}$/;
const ARCH = /^[A-Za-z0-9_]{1,32}$/;

/**
 * The packages of a root's rpm database, read without running anything of the root: its
 * database files (an image's data, maybe hostile) are copied out of `root/var/lib/rpm`
 * opening every path component with O_NOFOLLOW (a symlink anywhere is refused, never
 * followed, also when the container swaps one in meanwhile), capped in bytes, into a
 * private scratch directory; the node's rpm queries that copy (`--dbpath`, no `--root`:
 * no chroot into the tenant's tree, no macros from it), killed past a time or output cap;
 * each record is checked field by field.
 */
export async function readPackages(root: string, scratchDir: string, limits: Partial<PackageLimits> = {}): Promise<ReadPackagesResult> {
  const lim = { ...PACKAGE_LIMITS, ...limits };
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(path.join(scratchDir, 'rpmdb-'));
  try {
    const copied = await copyDb(root, scratch, lim.dbBytes);
    if (!copied) return { packages: [], invalid: 0, truncated: false };
    const r = await run('rpm', ['--dbpath', scratch, '-qa', '--qf', `${QF}${RS}`], {
      maxStdout: lim.outputBytes,
      timeoutMs: lim.timeoutMs,
    });
    if (r.code !== 0 && !r.truncated)
      throw new ImageError('invalid_manifest', `read rpm database of ${root}: rpm exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
    return parseQuery(r.stdout, lim.maxPackages, r.truncated === true);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Parses `rpm -qa --qf QF` output (pure: unit-tested with hostile records). */
export function parseQuery(out: string, maxPackages: number, truncated = false): ReadPackagesResult {
  const records = out.split(RS);
  // a cut output ends in a partial record
  if (truncated) records.pop();
  const packages: Component[] = [];
  let invalid = 0;
  for (const rec of records) {
    if (rec === '' || rec === '\n') continue;
    const f = rec.split(US);
    const c = f.length === 6 ? toComponent(f) : undefined;
    if (c === null) continue; // the database's own keys
    if (!c) invalid++;
    else if (packages.length >= maxPackages) return { packages: sortComponents(packages), invalid, truncated: true };
    else packages.push(c);
  }
  return { packages: sortComponents(packages), invalid, truncated };
}

function toComponent([name, epoch, version, release, arch, sig]: string[]): Component | null | undefined {
  if (name === 'gpg-pubkey') return null;
  if (!NAME.test(name) || !EVR.test(version) || !EVR.test(release)) return undefined;
  if (!ARCH.test(arch) && arch !== '(none)') return undefined;
  if (epoch !== '(none)' && !/^\d{1,9}$/.test(epoch)) return undefined;
  const key = /Key ID ([0-9a-f]{8,40})$/i.exec(sig.trim())?.[1]?.toLowerCase() ?? null;
  return { name, epoch: epoch === '(none)' ? 0 : Number(epoch), version, release, arch: arch === '(none)' ? 'noarch' : arch, key };
}

const sortComponents = (l: Component[]) => l.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : 1));

/** `version-release` (with `epoch:` when set), as rpm and dnf show it. */
export const evrString = (c: { epoch?: number; version: string; release?: string }): string =>
  `${c.epoch ? `${c.epoch}:` : ''}${c.version}${c.release ? `-${c.release}` : ''}`;

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const O_FILE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** `/proc/self/fd/N/name`: openat(N, name) for Node, which has no openat. */
const at = (dir: FileHandle, name: string) => `/proc/self/fd/${dir.fd}/${name}`;

/** Copies the database files; false when the root has no rpm database. Symlinks anywhere on the way are refused. */
async function copyDb(root: string, dest: string, maxBytes: number): Promise<boolean> {
  const parts = RPM_DBPATH.split('/').filter(Boolean);
  let dir = await open(root, O_DIR).catch((e: NodeJS.ErrnoException) => refuse(e, root, root));
  try {
    for (const part of parts) {
      const next = await open(at(dir, part), O_DIR).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        return refuse(e, part, root);
      });
      await dir.close();
      if (!next) return false;
      dir = next;
    }
    let total = 0;
    let any = false;
    for (const name of DB_FILES) {
      const fh = await open(at(dir, name), O_FILE).catch((e: NodeJS.ErrnoException) =>
        e.code === 'ENOENT' ? undefined : refuse(e, `${RPM_DBPATH}/${name}`, root),
      );
      if (!fh) continue;
      try {
        const s = await fh.stat();
        if (!s.isFile())
          throw new ImageError('unsafe_package', `read rpm database of ${root}: ${RPM_DBPATH}/${name} is not a regular file`);
        total += s.size;
        if (total > maxBytes)
          throw new ImageError('unsafe_package', `read rpm database of ${root}: ${RPM_DBPATH} is larger than ${maxBytes} bytes`);
        await copyCapped(fh, path.join(dest, name), s.size);
        any = true;
      } finally {
        await fh.close();
      }
    }
    return any;
  } finally {
    await dir.close().catch(() => {});
  }
}

/** Copies at most `size` bytes (the size seen at open: a file growing meanwhile is cut, not followed). */
async function copyCapped(src: FileHandle, dest: string, size: number): Promise<void> {
  const out = await open(dest, 'wx', 0o600);
  try {
    const buf = Buffer.alloc(Math.min(size, 1 << 20) || 1);
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      await out.write(buf, 0, bytesRead);
      pos += bytesRead;
    }
  } finally {
    await out.close();
  }
}

function refuse(e: NodeJS.ErrnoException, what: string, root: string): never {
  if (e.code === 'ELOOP' || e.code === 'ENOTDIR')
    throw new ImageError('unsafe_package', `read rpm database of ${root}: ${what} is a symlink or not a directory`, { cause: e });
  throw new ImageError('unsafe_package', `read rpm database of ${root}: open ${what}: ${e.code ?? e.message}`, { cause: e });
}
