import { chmod, lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** What an imported tree may not carry onto the node: device nodes, sockets, setuid/setgid files. */
export interface TreeFinding {
  /** path inside the tree, `/`-rooted */
  path: string;
  problem: 'char device node' | 'block device node' | 'socket' | 'setuid file' | 'setgid file';
}

/**
 * Walks a tree without following symlinks (lstat) and lists what must not stay in an image:
 * a device node would give access to a node device to anyone who can reach the file (inside
 * or outside the container); a setuid/setgid file is a privilege escalation waiting on the node.
 */
export async function unsafeEntries(root: string, limit = 100): Promise<TreeFinding[]> {
  const out: TreeFinding[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      if (out.length >= limit) return;
      const p = join(dir, name);
      const r = `${rel}/${name}`;
      const s = await lstat(p);
      if (s.isDirectory()) await walk(p, r);
      else if (s.isCharacterDevice()) out.push({ path: r, problem: 'char device node' });
      else if (s.isBlockDevice()) out.push({ path: r, problem: 'block device node' });
      else if (s.isSocket()) out.push({ path: r, problem: 'socket' });
      else if (!s.isSymbolicLink() && s.mode & 0o4000) out.push({ path: r, problem: 'setuid file' });
      else if (!s.isSymbolicLink() && s.mode & 0o2000) out.push({ path: r, problem: 'setgid file' });
    }
  };
  await walk(root, '');
  return out;
}

/** Removes device nodes and sockets, clears setuid/setgid bits (`--sanitize`: OS trees from debootstrap carry both). */
export async function sanitize(root: string, findings: TreeFinding[]): Promise<void> {
  for (const f of findings) {
    const p = join(root, f.path);
    if (f.problem === 'setuid file' || f.problem === 'setgid file') await chmod(p, (await lstat(p)).mode & 0o1777);
    else await rm(p, { force: true });
  }
}
