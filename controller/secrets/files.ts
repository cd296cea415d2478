/**
 * Files only the controller's user may read: the state directory (0700), secrets in it
 * (0600). Anything group/world accessible is refused with a message that says how to fix it,
 * since another local user may already have read or changed it.
 */
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export class LooseModeError extends Error {
  readonly code = 'loose_mode';
  constructor(
    readonly what: string,
    readonly offenders: Array<{ path: string; mode: number }>,
    readonly root: string,
  ) {
    const first = offenders[0];
    const more = offenders.length > 1 ? ` (and ${offenders.length - 1} more)` : '';
    super(
      `${what} ${root} is accessible by group or others: ${first.path} has mode ${octal(first.mode)}${more}. ` +
        `Another local user may have read or changed it: check it, then run \`chmod -R go-rwx ${root}\` and start again`,
    );
  }
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/** Creates `dir` (mode 0700) when missing; refuses an existing one that group/others can reach. */
export async function ensurePrivateDir(dir: string, what: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const s = await stat(dir); // follows a symlink (systemd's StateDirectory with DynamicUser is one)
  if (!s.isDirectory()) throw new Error(`${what} ${dir} is not a directory`);
  if (s.mode & 0o077) throw new LooseModeError(what, [{ path: dir, mode: s.mode }], dir);
}

/** Every directory and file under `root` (itself included) with a group/other bit; symlinks are judged by their target's place. */
export async function findLoose(root: string, limit = 1000): Promise<Array<{ path: string; mode: number }>> {
  const out: Array<{ path: string; mode: number }> = [];
  const walk = async (p: string, top = false): Promise<void> => {
    if (out.length >= limit) return;
    const s = top ? await stat(p) : await lstat(p);
    if (s.isSymbolicLink()) return;
    if (s.mode & 0o077) out.push({ path: p, mode: s.mode });
    if (s.isDirectory()) for (const e of await readdir(p)) await walk(path.join(p, e));
  };
  await walk(root, true);
  return out;
}

/** Refuses a tree with any group/world-accessible entry. */
export async function assertPrivateTree(root: string, what: string): Promise<void> {
  const loose = await findLoose(root);
  if (loose.length > 0) throw new LooseModeError(what, loose, root);
}

/** chmod go-rwx on every entry of a tree we just wrote (a library may pick its own modes). Returns how many changed. */
export async function tightenTree(root: string): Promise<number> {
  let n = 0;
  for (const e of await findLoose(root, Infinity)) {
    await chmod(e.path, e.mode & 0o700);
    n++;
  }
  return n;
}

/** Writes a secret atomically (temp file 0600 in the same directory, fsync, rename). */
export async function writeSecret(file: string, content: string | Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** Reads a secret file, refusing one that group/others can read or write. Undefined when absent. */
export async function readSecret(file: string, what: string): Promise<string | undefined> {
  let s;
  try {
    s = await lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!s.isFile()) throw new Error(`${what} ${file} is not a regular file`);
  if (s.mode & 0o077) throw new LooseModeError(what, [{ path: file, mode: s.mode }], file);
  return readFile(file, 'utf8');
}
