import { constants } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ImageError } from './errors.js';

/**
 * Paths inside a tenant's image are the tenant's: the agent resolves them without
 * following symlinks, so a link can never make it read or mount a file of the node.
 */

/** `dir` and every directory between `root` and it are real directories (lstat), and realpath agrees. */
export async function assertRealDirs(root: string, dir: string, what: string): Promise<void> {
  const rel = path.relative(root, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new ImageError('unsafe_package', `${what}: ${dir} is not inside ${root}`);
  let cur = root;
  for (const part of ['', ...rel.split(path.sep).filter(Boolean)]) {
    cur = part ? path.join(cur, part) : cur;
    const s = await lstat(cur).catch(() => undefined);
    if (!s) throw new ImageError('not_installed', `${what}: ${cur} does not exist`);
    if (!s.isDirectory()) {
      const kind = s.isSymbolicLink() ? 'a symlink' : 'not a directory';
      throw new ImageError(
        'unsafe_package',
        `${what}: ${path.relative(root, cur) || root} is ${kind}, not a real directory inside the image`,
      );
    }
  }
  const real = await realpath(dir);
  if (real !== path.resolve(dir)) throw new ImageError('unsafe_package', `${what}: ${dir} resolves to ${real}`);
}

/** Reads a regular file (O_NOFOLLOW: a symlink is refused, not followed; a FIFO never blocks), at most `max` bytes. */
export async function readRegularFile(file: string, max: number, what: string): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new ImageError('not_installed', `${what}: ${path.basename(file)} missing`, { cause: e });
    if (e.code === 'ELOOP')
      throw new ImageError('unsafe_package', `${what}: ${path.basename(file)} is a symlink, not a file inside the image`, { cause: e });
    throw new ImageError('unsafe_package', `${what}: open ${path.basename(file)}: ${e.code ?? e.message}`, { cause: e });
  });
  try {
    const s = await fh.stat();
    if (!s.isFile()) throw new ImageError('unsafe_package', `${what}: ${path.basename(file)} is not a regular file`);
    if (s.size > max) throw new ImageError('unsafe_package', `${what}: ${path.basename(file)} is larger than ${max} bytes`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}
