import { spawn } from 'node:child_process';
import { ImageError, type ImageErrorCode } from './errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout passed maxStdout: the program was killed and the output cut there. */
  truncated?: boolean;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the program once its stdout passes this many bytes (`truncated` in the result). */
  maxStdout?: number;
  /** Kill the program after this long (code -1). */
  timeoutMs?: number;
}

/** Runs a program without a shell (arguments are never interpreted) and collects its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let truncated = false;
    const max = opts.maxStdout ?? Infinity;
    child.stdout.on('data', (b: Buffer) => {
      if (truncated) return;
      outBytes += b.length;
      if (outBytes > max) {
        truncated = true;
        out.push(b.subarray(0, b.length - (outBytes - max)));
        child.kill('SIGKILL');
      } else out.push(b);
    });
    // stderr is for messages: its first 64 KiB say why
    child.stderr.on('data', (b: Buffer) => {
      if (errBytes < 65_536) err.push(b);
      errBytes += b.length;
    });
    child.on('error', (e) => reject(new ImageError('command_failed', `run ${cmd}: ${e.message}`, { cause: e })));
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(truncated ? { truncated } : {}),
      }),
    );
  });
}

/** Like run, but a non-zero exit becomes an ImageError naming the operation. */
export async function runOk(op: string, code: ImageErrorCode, cmd: string, args: string[], opts?: RunOptions): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new ImageError(code, `${op}: ${cmd} exited ${r.code}: ${lastLines(r.stderr || r.stdout)}`);
  return r;
}

/** The tail of a tool's output: enough to say why, short enough for a message. */
export function lastLines(text: string, n = 3): string {
  return text
    .trim()
    .split('\n')
    .filter((l) => !/should not be used directly|assuming you know what/.test(l))
    .slice(-n)
    .join(' | ');
}
