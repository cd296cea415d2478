import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RuntimeError, errorMessage } from './errors.js';
import { IMAGE_NAME_RE, imageDir, imagesDir } from './paths.js';
import { sanitize, unsafeEntries } from '../../images/tree-check.js';

const run = promisify(execFile);

/** The infra container's image: an empty skeleton; the host's Node.js and the project are bound in read-only. */
export const INFRA_IMAGE = 'freight-infra';

export function checkImageName(name: string): void {
  if (!IMAGE_NAME_RE.test(name)) {
    throw new RuntimeError('image_name_invalid', 'import image', name, 'lower-case letters, digits, . _ - (at most 63)');
  }
}

/** An image is usable when its directory exists and looks like a root (nspawn refuses a tree without /usr). */
export function imageExists(state: string, name: string): boolean {
  const dir = imageDir(state, name);
  // lstat: the image directory itself must be a real directory of the state dir, not a link elsewhere
  return IMAGE_NAME_RE.test(name) && existsSync(join(dir, 'usr')) && lstatSync(dir).isDirectory();
}

export async function listImages(state: string): Promise<string[]> {
  const names = await readdir(imagesDir(state)).catch(() => [] as string[]);
  return names.filter((n) => IMAGE_NAME_RE.test(n)).sort();
}

export interface ImportOptions {
  /** Remove device nodes and sockets and clear setuid/setgid bits instead of refusing the tree. */
  sanitize?: boolean;
}

/**
 * Imports a root filesystem from a directory (copied) or a tarball (extracted, compression auto-detected)
 * into `<state>/images/<name>/`. The tree is built beside the target and renamed into place, so a
 * half-imported image is never visible. An existing image of that name is replaced. A tree with
 * device nodes, sockets or setuid/setgid files is refused, naming them (or, with `sanitize`, cleaned).
 */
export async function importImage(state: string, name: string, source: string, opts: ImportOptions = {}): Promise<string> {
  checkImageName(name);
  const src = resolve(source);
  if (!existsSync(src)) throw new RuntimeError('image_not_found', 'import image', name, `source ${src} does not exist`);
  const target = imageDir(state, name);
  const tmp = join(imagesDir(state), `.import-${name}-${randomBytes(4).toString('hex')}`);
  // images/ is 0700: no user of the node reaches into an image tree (nor its files through it)
  await mkdir(imagesDir(state), { recursive: true, mode: 0o700 });
  await chmod(imagesDir(state), 0o700);
  await mkdir(tmp);
  try {
    // src is absolute (resolve): never read as an option. GNU tar refuses members with `..`
    // and never writes through a symlink the archive itself created.
    if (statSync(src).isDirectory()) await run('cp', ['-a', '--reflink=auto', '--', `${src}/.`, tmp]);
    else await run('tar', ['-xf', src, '-C', tmp, '--numeric-owner']);
    if (!lstatSync(join(tmp, 'usr'), { throwIfNoEntry: false })) {
      throw new RuntimeError('image_invalid', 'import image', name, `${src} has no /usr: not a root filesystem`);
    }
    const unsafe = await unsafeEntries(tmp);
    if (unsafe.length && !opts.sanitize) {
      const list = unsafe
        .slice(0, 5)
        .map((f) => `${f.path} (${f.problem})`)
        .join(', ');
      throw new RuntimeError(
        'image_invalid',
        'import image',
        name,
        `${src} carries ${list}${unsafe.length > 5 ? ', …' : ''}: refused (--sanitize removes device nodes and clears setuid/setgid bits)`,
      );
    }
    if (unsafe.length) await sanitize(tmp, await unsafeEntries(tmp, Infinity));
    await replaceDir(tmp, target);
    return target;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof RuntimeError) throw e;
    throw new RuntimeError('image_invalid', 'import image', name, errorMessage(e), false, { cause: e });
  }
}

async function replaceDir(fresh: string, target: string): Promise<void> {
  if (!existsSync(target)) return rename(fresh, target);
  const old = `${target}.old-${randomBytes(4).toString('hex')}`;
  await rename(target, old);
  await rename(fresh, target);
  await rm(old, { recursive: true, force: true });
}

/** Top-level host directories the infra image needs; merged-/usr symlinks are mirrored, real dirs are bound. */
const HOST_ROOT_DIRS = ['bin', 'sbin', 'lib', 'lib64'];

/** Creates the built-in `freight-infra` skeleton if missing (idempotent). */
export async function ensureInfraImage(state: string): Promise<string> {
  const dir = imageDir(state, INFRA_IMAGE);
  if (existsSync(join(dir, 'usr'))) return dir;
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  for (const d of ['usr', 'etc/freight', 'proc', 'sys', 'dev', 'run', 'tmp', 'var/tmp', 'root']) {
    await mkdir(join(tmp, d), { recursive: true });
  }
  for (const d of HOST_ROOT_DIRS) {
    const host = `/${d}`;
    if (isSymlink(host)) await symlink(readlinkSync(host), join(tmp, d));
    else await mkdir(join(tmp, d), { recursive: true });
  }
  await symlink('../usr/lib/os-release', join(tmp, 'etc/os-release'));
  await writeFile(join(tmp, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(tmp, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(tmp, 'etc/hosts'), '127.0.0.1 localhost\n');
  await mkdir(dirname(dir), { recursive: true });
  await rename(tmp, dir).catch(async (e) => {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'usr'))) throw e; // lost a race with another creator: theirs is as good
  });
  return dir;
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export interface Bind {
  host: string;
  container: string;
  readOnly: boolean;
}

/** Read-only binds that give the infra skeleton the host's Node.js and the project tree. */
export function infraBinds(projectDir: string, configDir: string, runDir?: string): Bind[] {
  const binds: Bind[] = [{ host: '/usr', container: '/usr', readOnly: true }];
  for (const d of HOST_ROOT_DIRS) {
    const host = `/${d}`;
    if (existsSync(host) && !isSymlink(host)) binds.push({ host, container: host, readOnly: true });
  }
  if (!projectDir.startsWith('/usr/')) binds.push({ host: projectDir, container: projectDir, readOnly: true });
  binds.push({ host: configDir, container: '/etc/freight', readOnly: true });
  if (runDir) binds.push({ host: runDir, container: '/run/freight', readOnly: false });
  return binds;
}

/** The infra container's command when the view gives none. */
export function infraCommand(projectDir: string): string[] {
  return ['node', join(projectDir, 'dist/infra-container/main.js'), '--config', '/etc/freight/infra.json'];
}
