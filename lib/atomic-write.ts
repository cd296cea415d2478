import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

let seq = 0;

/**
 * Replaces `file` with `data` so that a reader or a crash sees the old file or the new one, never
 * a torn one: a temp file in the same directory, fsync, rename over the target, fsync the
 * directory (the rename is durable only then). The one atomic write of every process.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${++seq}.tmp`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
