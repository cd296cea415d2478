import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tty from 'node:tty';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ExecExit, ExecSize } from '../../protocol/exec.js';
import { CGROUP_ROOT, cgroupDirs, cgroupLayout, type CgroupLayout } from './cgroups.js';
import { RuntimeError, errorMessage } from './errors.js';
import { RateGate } from './exec-rate.js';
import { openContainerPty, setPtySize, type ContainerPty } from './pty.js';

/** Where an exec goes: the container's PID 1 (as the node sees it) and the cgroups it must join. */
export interface ExecTarget {
  pid: number;
  cgroupProcs: string[];
}

export interface ExecRequest {
  container: string;
  argv: string[];
  tty: boolean;
  size?: ExecSize;
}

/** Where an exec's events go (the agent stream). */
export interface ExecSink {
  started(): void;
  output(stream: 'stdout' | 'stderr', data: Buffer): void;
  exit(e: ExecExit): void;
}

export interface ExecOptions {
  /** Execs running at once on this node (default 16). */
  maxConcurrent?: number;
  /** Output of one exec, bytes per second (default 1 MiB/s) with a burst of a quarter of it. */
  bytesPerSecond?: number;
  /** Input a command has not read yet, past which the exec is ended (default 1 MiB). */
  maxPendingInput?: number;
  log: Logger;
  now?: () => number;
}

/** The environment of an exec'd command: the same for every command, nothing of the agent's. */
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' };

/**
 * Joins the container's cgroups (its limits bound the command), then nsenter: every namespace of
 * the container's PID 1 — its user namespace first, so uid 0 there is the container's unprivileged
 * range on the node, never the node's root — its root and working directory, and execve of the
 * argv (after `--`: never options, never a shell string).
 */
const WRAP = 'IFS=:; for f in $FREIGHT_CGROUPS; do echo $$ > "$f" || exit 125; done; unset IFS FREIGHT_CGROUPS; exec "$@"';

const nsenterArgs = (pid: number, argv: string[]) => ['nsenter', `--target=${pid}`, '--all', '--root', '--wd', '--', ...argv];

interface Running {
  child?: ChildProcess;
  pty?: ContainerPty;
  /** The pty master as a duplex stream (it owns the fd once made). */
  io?: tty.ReadStream;
  sink: ExecSink;
  killed: boolean;
  finished: boolean;
  /** Input that arrived while the command was being started. */
  early: Array<{ data?: Buffer; eof?: boolean }>;
}

/** The execs of one node: started, fed, resized, killed by id; bounded in number and output rate. */
export class ExecRunner {
  private readonly running = new Map<string, Running>();
  private readonly max: number;
  private readonly rate: number;
  private readonly maxInput: number;
  private readonly now: () => number;

  constructor(private readonly o: ExecOptions) {
    this.max = o.maxConcurrent ?? 16;
    this.rate = o.bytesPerSecond ?? 1024 * 1024;
    this.maxInput = o.maxPendingInput ?? 1024 * 1024;
    this.now = o.now ?? Date.now;
  }

  get count(): number {
    return this.running.size;
  }

  /** Starts an exec; whatever goes wrong ends in `sink.exit` with an error (never a throw). */
  async start(id: string, req: ExecRequest, target: () => ExecTarget, sink: ExecSink): Promise<void> {
    if (this.running.has(id)) return;
    if (this.running.size >= this.max) {
      return sink.exit(exitError('too_many_execs', `exec in ${req.container}: ${this.max} execs already run on this node`));
    }
    // reserved before the first await: concurrent starts count against the limit
    const r: Running = { sink, killed: false, finished: false, early: [] };
    this.running.set(id, r);
    try {
      const t = target();
      r.pty = req.tty ? await openContainerPty(t.pid, req.container) : undefined;
      if (r.pty) await setPtySize(r.pty.slave, req.size?.rows ?? 24, req.size?.cols ?? 80);
      if (r.killed) return this.finish(id, r, { code: null, signal: 'SIGKILL' });
      const env = { ...ENV, ...(req.tty ? { TERM: 'xterm' } : {}), FREIGHT_CGROUPS: t.cgroupProcs.join(':') };
      const stdio = r.pty ? [r.pty.slave, r.pty.slave, r.pty.slave] : ['pipe', 'pipe', 'pipe'];
      // a TTY command gets its own session with the pty as controlling terminal (setsid -c); a plain one
      // its own process group: either way the whole group is killed with it
      const cmd = r.pty ? ['setsid', '--ctty', '--wait', ...nsenterArgs(t.pid, req.argv)] : nsenterArgs(t.pid, req.argv);
      const child = spawn('/bin/sh', ['-c', WRAP, 'freight-exec', ...cmd], { env, stdio: stdio as never, detached: !r.pty });
      r.child = child;
      this.wire(id, r, child, req.container);
      sink.started();
      for (const i of r.early.splice(0)) this.input(id, i.data, i.eof);
    } catch (e) {
      this.finish(id, r, exitError(e instanceof RuntimeError ? e.code : 'exec_failed', errorMessage(e)));
    }
  }

  input(id: string, data?: Buffer, eof?: boolean): void {
    const r = this.running.get(id);
    if (!r || r.finished) return;
    if (!r.child) {
      r.early.push({ data, eof });
      if (r.early.reduce((n, i) => n + (i.data?.length ?? 0), 0) > this.maxInput) this.kill(id);
      return;
    }
    if (r.io) {
      if (data?.length) r.io.write(data);
      if (eof) r.io.write('\x04'); // ^D: the line discipline's end of file
      if (r.io.writableLength > this.maxInput) this.overflow(id, r);
      return;
    }
    const stdin = r.child.stdin;
    if (!stdin || stdin.destroyed) return;
    if (data?.length) stdin.write(data);
    if (eof) stdin.end();
    if (stdin.writableLength > this.maxInput) this.overflow(id, r);
  }

  resize(id: string, size: ExecSize): void {
    const r = this.running.get(id);
    if (r?.pty && r.pty.slave >= 0 && !r.finished) void setPtySize(r.pty.slave, size.rows, size.cols);
  }

  /** Kills the exec's process group (the client went away). */
  kill(id: string): void {
    const r = this.running.get(id);
    if (!r) return;
    r.killed = true; // still starting: it stops before spawning
    this.killGroup(r);
  }

  killAll(): void {
    for (const id of this.running.keys()) this.kill(id);
  }

  private overflow(id: string, r: Running): void {
    this.o.log.warn({ exec: id }, 'exec input not read: ending it');
    this.killGroup(r);
  }

  private killGroup(r: Running): void {
    const pid = r.child?.pid;
    if (!pid) return;
    try {
      // the spawned process leads its group (its own session: setsid -c, or detached)
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }

  private wire(id: string, r: Running, child: ChildProcess, container: string): void {
    if (r.pty) r.io = new tty.ReadStream(r.pty.master);
    const outputs: Array<[Readable, 'stdout' | 'stderr']> = r.io
      ? [[r.io, 'stdout']]
      : [
          [child.stdout!, 'stdout'],
          [child.stderr!, 'stderr'],
        ];
    let open = outputs.length;
    let exit: ExecExit | undefined;
    const end = () => {
      if (exit && open === 0) this.finish(id, r, exit);
    };
    const gate = new RateGate(this.rate, Math.max(64 * 1024, this.rate / 4), this.now);
    for (const [stream, name] of outputs) {
      stream.on('data', (d: Buffer) => {
        if (r.finished) return;
        r.sink.output(name, d);
        const wait = gate.take(d.length);
        if (wait > 0) {
          stream.pause();
          setTimeout(() => stream.resume(), wait).unref();
        }
      });
      // a pty master reads EIO once every slave is closed: that is its end
      stream.on('error', () => stream.destroy());
      stream.on('close', () => {
        open--;
        end();
      });
    }
    child.stdin?.on('error', () => {}); // the command ended or closed its input: nothing to feed
    child.on('error', (e) => this.finish(id, r, exitError('exec_failed', `exec in ${container}: ${e.message}`)));
    child.on('exit', (code, signal) => {
      exit = { code: code === null ? null : code & 0xff, signal: signal ?? null };
      if (r.pty) {
        closeSync(r.pty.slave); // the master now reads what is left, then EIO
        r.pty.slave = -1;
      }
      // background processes in the container may keep the output open: do not wait for them forever
      setTimeout(() => this.finish(id, r, exit!), 2000).unref();
      end();
    });
  }

  private finish(id: string, r: Running, e: ExecExit): void {
    if (r.finished) return;
    r.finished = true;
    if (this.running.get(id) === r) this.running.delete(id);
    if (r.pty && r.pty.slave >= 0) closeSync(r.pty.slave);
    if (r.pty) r.pty.slave = -1;
    // the master belongs to its stream once made (destroying it closes the fd)
    if (r.io) r.io.destroy();
    else if (r.pty) closeSync(r.pty.master);
    r.sink.exit(e);
  }
}

const exitError = (code: string, message: string): ExecExit => ({
  code: null,
  signal: null,
  error: { code, message: message.slice(0, 2000) },
});

/**
 * The `cgroup.procs` files of the cgroups the container's PID 1 is in, below the container's own
 * directories (the runtime's, with its limits; in a hierarchy where nspawn made a payload cgroup
 * below it, that one). Never a cgroup outside the container's.
 */
export function execCgroups(id: string, pid: number, layout: CgroupLayout = cgroupLayout()): string[] {
  const paths = new Map<string, string>();
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) for (const c of m[1].split(',')) paths.set(c, m[2]);
  }
  const mark = `/freight/${id}`;
  return cgroupDirs(id, layout).map((dir) => {
    const hierarchy = layout.kind === 'v2' ? '' : dir.slice(CGROUP_ROOT.length + 1).split('/')[0];
    const key = hierarchy === 'systemd' ? 'name=systemd' : hierarchy === 'unified' ? '' : hierarchy;
    const p = paths.get(key) ?? '';
    const at = p.indexOf(mark);
    const below = at < 0 ? '' : p.slice(at + mark.length);
    const safe = /^(\/[A-Za-z0-9_.@-]+)*$/.test(below) && !below.split('/').includes('..');
    return join(dir, safe ? below : '', 'cgroup.procs');
  });
}

/** A running container's exec target, or container_not_running. */
export function execTarget(id: string, name: string, pid: number | null): ExecTarget {
  if (pid === null) throw new RuntimeError('container_not_running', 'exec in', name, 'the container is not running');
  return { pid, cgroupProcs: execCgroups(id, pid) };
}
