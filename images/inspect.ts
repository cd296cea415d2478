import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ImageError } from './errors.js';
import { runOk } from './exec.js';
import { payloadPath, pkgName } from './ref.js';

/**
 * What rpm would do with a package, read from its (signed) header before it is installed.
 * A tenant signs its own packages: the signature says who made it, not that it is safe, so
 * the node refuses packages that would run code or put dangerous files on the node.
 */
export interface RpmHeader {
  name: string;
  version: string;
  /** Header tags of scriptlets and triggers the package carries (PREIN, POSTINPROG, TRIGGERSCRIPTS…). */
  scriptlets: string[];
  files: RpmFile[];
}

export interface RpmFile {
  path: string;
  mode: number;
  linkTo: string;
  caps: string;
}

/** Every header tag that makes rpm run something (a body or an interpreter alone: `%post -p /bin/x`). */
const SCRIPT_TAGS = [
  'PREIN',
  'POSTIN',
  'PREUN',
  'POSTUN',
  'PRETRANS',
  'POSTTRANS',
  'VERIFYSCRIPT',
  'TRIGGERSCRIPTS',
  'FILETRIGGERSCRIPTS',
  'TRANSFILETRIGGERSCRIPTS',
].flatMap((t) => [t, t.endsWith('SCRIPTS') ? `${t.slice(0, -1)}PROG` : `${t}PROG`]);

const S_IFMT = 0o170000;
const TYPES: Record<number, string> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o010000: 'fifo',
  0o020000: 'char',
  0o060000: 'block',
  0o140000: 'socket',
};

/**
 * Reads the header with `rpm -qp --qf`. Field and record separators are a fresh random
 * nonce: file names are the tenant's and may hold tabs or newlines, but not a nonce chosen
 * after the package was fixed.
 */
export async function readRpmHeader(rpm: string): Promise<RpmHeader> {
  const n = `@${randomBytes(12).toString('hex')}@`;
  const scripts = SCRIPT_TAGS.map((t) => `%|${t}?{${t},}:{}|`).join('');
  const qf = `%{NAME}${n}%{VERSION}${n}${scripts}${n}[%{FILEMODES:octal}${n}%{FILENAMES}${n}%{FILELINKTOS}${n}%{FILECAPS}${n}]`;
  const r = await runOk(`inspect ${path.basename(rpm)}`, 'install_failed', 'rpm', [
    '-qp',
    '--nosignature',
    '--nodigest',
    '--qf',
    qf,
    '--',
    rpm,
  ]);
  const f = r.stdout.split(n);
  const files: RpmFile[] = [];
  for (let i = 3; i + 4 <= f.length; i += 4) {
    files.push({ mode: parseInt(f[i], 8), path: f[i + 1], linkTo: f[i + 2], caps: f[i + 3] === '(none)' ? '' : f[i + 3] });
  }
  return { name: f[0], version: f[1], scriptlets: f[2].split(',').filter(Boolean), files };
}

/**
 * Why a package must not be installed, or null. Pure. The rules:
 * - it is the image it claims to be (`freight-image-NAME`, VERSION);
 * - no scriptlet or trigger of any kind (Freight's images have none; `rpm -i` also gets
 *   --noscripts --notriggers, so this is the second line);
 * - every file is inside the image's own payload directory, with no `.`/`..` component;
 * - the payload directory and its `rootfs` are real directories, `manifest.json` a regular file;
 * - no device node or socket, no setuid/setgid file, no file capabilities.
 */
export function judgePackage(h: RpmHeader, expected: { name: string; version: string }): string | null {
  const want = pkgName(expected.name);
  if (h.name !== want || h.version !== expected.version) return `the package is ${h.name}-${h.version}, not ${want}-${expected.version}`;
  if (h.scriptlets.length)
    return `it carries scriptlets or triggers (${h.scriptlets.join(', ')}): image packages never run code on the node`;
  const prefix = payloadPath(expected.name, expected.version);
  const byPath = new Map(h.files.map((f) => [f.path, f]));
  for (const f of h.files) {
    const rel = f.path === prefix ? '.' : f.path.startsWith(`${prefix}/`) ? f.path.slice(prefix.length + 1) : null;
    if (rel === null) return `file ${JSON.stringify(f.path)} is outside the image's payload ${prefix}`;
    if (rel !== '.' && rel.split('/').some((c) => c === '' || c === '.' || c === '..'))
      return `file ${JSON.stringify(f.path)} has an empty, . or .. component`;
    const type = TYPES[f.mode & S_IFMT] ?? 'unknown';
    const what = `file ${rel} (mode ${(f.mode & 0o7777).toString(8)})`;
    if (type === 'char' || type === 'block') return `${what} is a ${type} device node`;
    if (type === 'socket' || type === 'unknown') return `${what} is a ${type} file`;
    if (type !== 'dir' && f.mode & 0o4000) return `${what} is setuid`;
    if (type !== 'dir' && f.mode & 0o2000) return `${what} is setgid`;
    if (f.caps) return `${what} carries file capabilities (${f.caps})`;
  }
  // rpm creates a file's parents itself; a parent that the package also ships as a symlink
  // would make it write through the link (rpm 4.18 orders implicit directories first, do not rely on it)
  const links = new Set(h.files.filter((f) => TYPES[f.mode & S_IFMT] === 'symlink').map((f) => f.path));
  for (const f of h.files) {
    for (let d = path.posix.dirname(f.path); d.length > prefix.length; d = path.posix.dirname(d)) {
      if (links.has(d)) return `file ${f.path.slice(prefix.length + 1)} is below the symlink ${d.slice(prefix.length + 1)}`;
    }
  }
  const need = (rel: string, type: string): string | null => {
    const f = byPath.get(rel === '.' ? prefix : `${prefix}/${rel}`);
    if (!f) return rel === '.' ? null : `it has no ${rel}`;
    const t = TYPES[f.mode & S_IFMT];
    if (t === type) return null;
    const target = f.linkTo ? ` to ${JSON.stringify(f.linkTo)}` : '';
    return `${rel === '.' ? prefix : rel} is a ${t}${target}, not a real ${type === 'dir' ? 'directory' : 'file'} inside the payload`;
  };
  return need('.', 'dir') ?? need('rootfs', 'dir') ?? need('manifest.json', 'file');
}

/** Refuses (`unsafe_package`, naming the file) a package judgePackage rejects. */
export async function checkPackage(rpm: string, expected: { name: string; version: string }): Promise<void> {
  const why = judgePackage(await readRpmHeader(rpm), expected);
  if (why) throw new ImageError('unsafe_package', `refuse ${path.basename(rpm)}: ${why}`);
}
