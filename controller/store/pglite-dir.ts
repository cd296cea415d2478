/**
 * The embedded database's directory: 0700, every file 0600. PGlite (Emscripten's NODEFS)
 * creates each file and then chmods it to the mode Postgres asked for, 0666 here, past any
 * umask: ~970 world-writable files in a fresh directory. So: refuse a directory that is
 * already group/world accessible (someone may have changed it), clamp the modes PGlite sets
 * under a data directory, and tighten what is there after opening and at close.
 */
import fs from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { assertPrivateTree, tightenTree } from '../secrets/files.js';

const WHAT = 'embedded database directory';

/** Process-wide by nature (PGlite calls node:fs itself): data directories whose chmods lose group/other bits. */
const clamped = new Set<string>();
let installed = false;

function installClamp(): void {
  if (installed) return;
  installed = true;
  const chmodSync = fs.chmodSync;
  fs.chmodSync = function clampedChmod(p: fs.PathLike, mode: fs.Mode) {
    const m = typeof mode === 'string' ? parseInt(mode, 8) : mode;
    const s = String(p);
    const inside = [...clamped].some((root) => s === root || s.startsWith(root + path.sep));
    return chmodSync.call(fs, p, inside ? m & ~0o077 : m);
  };
}

/** Before PGlite opens `dir`: create it 0700, or refuse it when anything in it is group/world accessible. */
export async function preparePgliteDir(dir: string): Promise<string> {
  if (fs.existsSync(dir)) await assertPrivateTree(dir, WHAT);
  else await mkdir(dir, { recursive: true, mode: 0o700 });
  const real = await realpath(dir);
  installClamp();
  clamped.add(real);
  return real;
}

/** After opening and at close: nothing PGlite wrote stays group/world accessible. */
export async function tightenPgliteDir(dir: string): Promise<void> {
  await tightenTree(dir);
}

export function releasePgliteDir(real: string): void {
  clamped.delete(real);
}
