import { execFile } from 'node:child_process';
import { lchown, lstat, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { RuntimeError } from './errors.js';

const run = promisify(execFile);

/**
 * A container's upper layer over new image layers (`container upgrade`). nspawn's first-start
 * chown (runtime/nspawn.ts) left metacopy entries in the upper: files with only their metadata
 * copied up, whose data — and size — come from the layer below. Over another version's layers
 * such an entry pairs the old size with the new data (the rpm database read as malformed). So
 * when the layers change, the metacopy entries are dropped (they hold nothing of the container's
 * own) and the upper's root goes back to 0:0, which makes nspawn chown the tree into the range
 * again on this start, over the new layers. Files the container wrote are real copies and stay.
 */
export async function rebaseUpper(id: string, upper: string, lowers: string[]): Promise<void> {
  const record = path.join(path.dirname(upper), 'lowers.json');
  const before = await readFile(record, 'utf8').then(
    (t) => JSON.parse(t) as unknown,
    () => undefined,
  );
  if (before !== undefined && JSON.stringify(before) !== JSON.stringify(lowers)) {
    const entries = await metacopyEntries(id, upper);
    for (const f of entries) await unlink(f);
    await lchown(upper, 0, 0);
  }
  if (JSON.stringify(before) !== JSON.stringify(lowers)) await writeFileAtomic(record, JSON.stringify(lowers), 0o600);
}

/**
 * Regular files under `upper` carrying overlayfs' metacopy xattr (trusted.*: a container cannot set it),
 * as byte paths: the names are the tenant's and need not be UTF-8.
 */
export async function metacopyEntries(id: string, upper: string): Promise<Buffer[]> {
  let out: Buffer;
  try {
    // -P: never follow symlinks; getfattr escapes special bytes of names as \ooo (a backslash too: \134)
    const r = await run('getfattr', ['-R', '-P', '--absolute-names', '-m', '^trusted\\.overlay\\.metacopy$', upper], {
      encoding: 'buffer',
      maxBuffer: 256 * 1024 * 1024,
      timeout: 120_000,
    });
    out = r.stdout;
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; code?: unknown };
    // exit 1 with output: some entry could not be read (a vanished file); the rest is listed
    if (!Buffer.isBuffer(err.stdout) || err.code === 'ENOENT') {
      throw new RuntimeError('mount_failed', 'read metacopy entries', id, String(err.stderr ?? e).trim(), false, { cause: e });
    }
    out = err.stdout;
  }
  const prefix = Buffer.from(upper + path.sep);
  const files: Buffer[] = [];
  for (const line of splitLines(out)) {
    const head = Buffer.from('# file: ');
    if (!line.subarray(0, head.length).equals(head)) continue;
    const file = unescapeOctal(line.subarray(head.length));
    // the tree is the tenant's: only regular files strictly inside the upper directory
    if (!file.subarray(0, prefix.length).equals(prefix) || file.includes('/../') || file.includes('/./')) continue;
    const st = await lstat(file).catch(() => undefined);
    if (st?.isFile()) files.push(file);
  }
  return files;
}

function splitLines(b: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let at = 0; at < b.length;) {
    const nl = b.indexOf(0x0a, at);
    const end = nl < 0 ? b.length : nl;
    lines.push(b.subarray(at, end));
    at = end + 1;
  }
  return lines;
}

/** getfattr's quoting of names: every `\ooo` is one byte. */
export function unescapeOctal(src: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const oct = src[i] === 0x5c ? src.subarray(i + 1, i + 4).toString('latin1') : '';
    if (/^[0-7]{3}$/.test(oct)) {
      out.push(parseInt(oct, 8));
      i += 3;
    } else out.push(src[i]);
  }
  return Buffer.from(out);
}
