import type { Command } from 'commander';
import { constants } from 'node:os';
import type WebSocket from 'ws';
import { ExecServerMessage, type ExecClientMessage } from '../../protocol/exec.js';
import { CliError, enc, splitRef } from './client.js';
import type { Io } from './output.js';
import { EXIT, exitForCode, exitForStatus } from './exit.js';

/** Ends freightctl with the exec'd command's own exit status. */
export class CommandExit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

const CHUNK = 48 * 1024;

export interface ExecFlags {
  stdin?: boolean;
  tty?: boolean;
}

/** `container exec TENANT/NAME [-i] [-t] -- CMD…` (docs/api.md "exec"). */
export function execCommand(c: Command, io: () => Io): void {
  c.command('exec <tenant/name> <command...>')
    .description("run a command in a running container, as its root (inside the container's user namespace)")
    .option('-i, --stdin', 'pass standard input to the command')
    .option('-t, --tty', 'run the command on a terminal (a pty in the container)')
    .addHelpText(
      'after',
      '\nExamples:\n  freightctl container exec acme/web -- cat /etc/hostname\n  freightctl container exec acme/web -it -- sh\n',
    )
    .action(async (ref: string, argv: string[], o: ExecFlags) => {
      const { tenant, name } = splitRef(ref);
      const dial = io().dial;
      if (!dial) throw new CliError('usage', 'exec needs a controller connection', 2);
      const ws = await dial(`/v1/tenants/${enc(tenant)}/containers/${enc(name!)}/exec`);
      const status = await runExec(ws, argv, o, process.stdin, process.stdout, process.stderr);
      if (status !== 0) throw new CommandExit(status);
    });
}

/** Drives one exec over its WebSocket; resolves with the command's exit status. */
export function runExec(
  ws: WebSocket,
  argv: string[],
  o: ExecFlags,
  stdin: NodeJS.ReadStream,
  stdout: NodeJS.WriteStream,
  stderr: NodeJS.WriteStream,
): Promise<number> {
  const tty = Boolean(o.tty);
  const send = (m: ExecClientMessage) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
  const size = () => (stdout.isTTY ? { rows: stdout.rows || 24, cols: stdout.columns || 80 } : undefined);
  let raw = false;
  const cleanup = () => {
    if (raw) stdin.setRawMode(false);
    raw = false;
    stdin.pause();
    stdout.off('resize', onResize);
  };
  const onResize = () => {
    const s = size();
    if (s) send({ type: 'resize', size: s });
  };
  return new Promise<number>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      cleanup();
      fn();
    };
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let e: { code?: string; message?: string } = {};
        try {
          e = JSON.parse(text);
        } catch {
          /* not the API's error body */
        }
        finish(() =>
          reject(
            new CliError(
              e.code ?? `http_${res.statusCode}`,
              e.message ?? `exec refused (HTTP ${res.statusCode})`,
              exitForStatus(res.statusCode ?? 0),
            ),
          ),
        );
      });
    });
    ws.on('error', (err) => finish(() => reject(new CliError('unreachable', `exec: ${err.message}`, EXIT.unreachable))));
    ws.on('open', () => {
      const s = tty ? size() : undefined;
      send({ type: 'start', argv, tty, ...(s ? { size: s } : {}) });
      if (!o.stdin) return void send({ type: 'eof' });
      if (tty && stdin.isTTY) {
        stdin.setRawMode(true);
        raw = true;
      }
      stdin.on('data', (d: Buffer) => {
        for (let i = 0; i < d.length; i += CHUNK) send({ type: 'stdin', data: d.subarray(i, i + CHUNK).toString('base64') });
      });
      stdin.on('end', () => send({ type: 'eof' }));
      stdin.resume();
      if (tty) stdout.on('resize', onResize);
    });
    ws.on('message', (data) => {
      const parsed = ExecServerMessage.safeParse(safeJson(String(data)));
      if (!parsed.success) return;
      const m = parsed.data;
      if (m.type === 'output') (m.stream === 'stderr' ? stderr : stdout).write(Buffer.from(m.data, 'base64'));
      else if (m.type === 'error') finish(() => reject(new CliError(m.code, m.message, exitForCode(m.code))));
      else if (m.type === 'exit') {
        if (m.error) return finish(() => reject(new CliError(m.error!.code, m.error!.message, exitForCode(m.error!.code))));
        const signo = m.signal ? (constants.signals as Record<string, number>)[m.signal] : undefined;
        finish(() => resolve(m.code ?? 128 + (signo ?? 1)));
      }
    });
    ws.on('close', () =>
      finish(() => reject(new CliError('unreachable', 'exec: the connection closed before the command ended', EXIT.unreachable))),
    );
  });
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
