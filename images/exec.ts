import { spawn } from 'node:child_process';
import { ImageError, type ImageErrorCode } from './errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a program without a shell (arguments are never interpreted) and collects its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new ImageError('command_failed', `run ${cmd}: ${e.message}`, { cause: e })));
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
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
