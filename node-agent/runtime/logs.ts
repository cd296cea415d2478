import { copyFileSync, existsSync, openSync, closeSync, readSync, fstatSync, statSync, truncateSync } from 'node:fs';
import type { ContainerPaths } from './paths.js';

/** Default cap of output.log; at the cap it is copied to output.log.1 and truncated (copytruncate). */
export const DEFAULT_LOG_CAP = 1024 * 1024;

/**
 * copytruncate, because the wrapper holds the file open with O_APPEND: its next write lands at the
 * new end of the truncated file. A line written during the copy may be lost; that is the price of
 * not restarting the container to rotate its log.
 */
export function rotateLog(paths: ContainerPaths, cap: number): boolean {
  let size: number;
  try {
    size = statSync(paths.log).size;
  } catch {
    return false;
  }
  if (size <= cap) return false;
  copyFileSync(paths.log, paths.logOld);
  truncateSync(paths.log, 0);
  return true;
}

/** The last `bytes` of a file. */
function readTail(path: string, bytes: number): string {
  if (!existsSync(path)) return '';
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, bytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The last `lines` lines of the container's output (the rotated file included when needed). */
export function tailLog(paths: ContainerPaths, lines: number, cap = DEFAULT_LOG_CAP): string {
  const text = readTail(paths.logOld, cap) + readTail(paths.log, cap);
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  return all
    .slice(-Math.max(0, lines))
    .map((l) => `${l}\n`)
    .join('');
}

const START_MARK = '--- freight: start';

/** Output of the latest run only: everything after the last start marker of the wrapper. */
export function lastRunOutput(paths: ContainerPaths, bytes = 64 * 1024): string {
  const text = readTail(paths.log, bytes);
  const i = text.lastIndexOf(START_MARK);
  if (i < 0) return text;
  const nl = text.indexOf('\n', i);
  return nl < 0 ? '' : text.slice(nl + 1);
}

/** Lines systemd-nspawn prints when it could not run the container (as opposed to the command's output). */
const NSPAWN_FAILURES = [
  /^execv\(.*\) failed: .*$/m,
  /^Failed to .*$/m,
  /^Directory .* doesn't look like .*$/m,
  /^Timeout while .*$/m,
  /^freight-wrap: .*$/m, // the wrapper shell itself: nspawn not installed or not executable
];
/** nspawn noise on hosts where /run is not a tmpfs: not a failure. */
const NOISE = /^Attempted to remove disk file system under .*$/gm;

export type ExitClass = { kind: 'exited'; code: number } | { kind: 'failed'; code: number | null; reason: string };

/** Exit code + output of the run → exited with code, or failed with nspawn's own reason. Pure. */
export function classifyExit(code: number | null, output: string): ExitClass {
  if (code === null) return { kind: 'failed', code: null, reason: 'supervisor killed: exit code unknown' };
  if (code === 0) return { kind: 'exited', code };
  const text = output.replace(NOISE, '');
  for (const re of NSPAWN_FAILURES) {
    const m = re.exec(text);
    if (m) return { kind: 'failed', code, reason: m[0].startsWith('freight-wrap') ? m[0].trim() : `systemd-nspawn: ${m[0].trim()}` };
  }
  return { kind: 'exited', code };
}
