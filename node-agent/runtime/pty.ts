import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { RuntimeError } from './errors.js';

/** A pseudo-terminal of the container's own devpts: the master for the agent, the slave for the command. */
export interface ContainerPty {
  master: number;
  slave: number;
  index: number;
}

// TIOCSPTLCK (_IOW('T', 0x31, int)): unlockpt(3) on the master given as stdin. Node has no ioctl;
// perl (perl-base, essential on Debian) does the one call.
const UNLOCK = 'my $z = pack("i", 0); ioctl(STDIN, 0x40045431, $z) or die "unlockpt: $!\\n"';
/** UNIX98 pty slaves: majors 136–143. */
const slaveRdev = (index: number) => (((136 + (index >> 8)) & 0xfff) << 8) | (index & 0xff);

const fail = (container: string, detail: string, cause?: unknown) =>
  new RuntimeError('exec_failed', 'open a terminal in', container, detail, false, { cause });

/**
 * Opens a pty in the container's devpts (so `tty` inside names /dev/pts/N, which exists there),
 * through /proc/PID/root. Paths under that root are the tenant's: every open is checked against
 * what only the kernel says — the master's fdinfo has a `tty-index` and a mount id that
 * /proc/PID/mountinfo lists as devpts (so never a host pty or another file), the slave is the
 * character device of that index on the same devpts instance.
 */
export async function openContainerPty(pid: number, container: string): Promise<ContainerPty> {
  const root = `/proc/${pid}/root/dev/pts`;
  let master: number;
  try {
    master = openSync(`${root}/ptmx`, constants.O_RDWR | constants.O_NOCTTY | constants.O_NOFOLLOW);
  } catch (e) {
    throw fail(container, `no devpts: ${(e as Error).message}`, e);
  }
  try {
    const info = readFileSync(`/proc/self/fdinfo/${master}`, 'utf8');
    const index = Number(/^tty-index:\s*(\d+)$/m.exec(info)?.[1] ?? NaN);
    const mnt = /^mnt_id:\s*(\d+)$/m.exec(info)?.[1];
    if (!Number.isInteger(index) || !mnt) throw fail(container, '/dev/pts/ptmx is not a pty master');
    const mounts = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n');
    if (!mounts.some((l) => l.startsWith(`${mnt} `) && / - devpts /.test(l)))
      throw fail(container, '/dev/pts/ptmx is not on a devpts of the container');
    await unlock(master, container);
    const slave = openSync(`${root}/${index}`, constants.O_RDWR | constants.O_NOCTTY | constants.O_NOFOLLOW);
    const s = fstatSync(slave);
    if (!s.isCharacterDevice() || s.rdev !== slaveRdev(index) || s.dev !== fstatSync(master).dev) {
      closeSync(slave);
      throw fail(container, `/dev/pts/${index} is not the slave of the terminal opened`);
    }
    return { master, slave, index };
  } catch (e) {
    closeSync(master);
    throw e instanceof RuntimeError ? e : fail(container, (e as Error).message, e);
  }
}

function unlock(master: number, container: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('perl', ['-e', UNLOCK], { stdio: [master, 'ignore', 'pipe'], timeout: 10_000 });
    let err = '';
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', (e) => reject(fail(container, `unlockpt: ${e.message}`, e)));
    p.on('close', (code) => (code === 0 ? resolve() : reject(fail(container, err.trim() || `unlockpt: perl exited ${code}`))));
  });
}

/** Sets the terminal size (TIOCSWINSZ through stty on the slave; the foreground group gets SIGWINCH). */
export function setPtySize(slave: number, rows: number, cols: number): Promise<void> {
  return new Promise((resolve) => {
    const p = spawn('stty', ['rows', String(rows), 'cols', String(cols)], { stdio: [slave, 'ignore', 'ignore'], timeout: 5000 });
    p.on('error', () => resolve());
    p.on('close', () => resolve());
  });
}
