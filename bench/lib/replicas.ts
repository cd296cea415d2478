/**
 * The parent's side of bench/lib/replica.ts: controller replicas, each in its own process on one
 * PostgreSQL database, that can be killed and started again on the same port (a restart).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./replica.ts', import.meta.url));

interface Proc {
  proc: ChildProcess;
  waiting: Map<string, Array<(m: Record<string, unknown>) => void>>;
}

export class Replicas {
  private readonly procs: Array<Proc | undefined> = [];
  readonly ports: number[] = [];
  private readonly stateDir = mkdtempSync(path.join(os.tmpdir(), 'freight-bench-replicas-'));

  private constructor(
    private readonly databaseUrl: string,
    readonly adminToken: string,
  ) {}

  /** Starts `n` replicas one after the other (the first creates the master key the others share). */
  static async start(databaseUrl: string, n: number, adminToken: string): Promise<Replicas> {
    const r = new Replicas(databaseUrl, adminToken);
    for (let i = 0; i < n; i++) await r.startOne(i);
    return r;
  }

  /** The live replicas' process ids. */
  get pids(): number[] {
    return this.procs.flatMap((p) => (p?.proc.pid ? [p.proc.pid] : []));
  }

  get urls(): string[] {
    return this.ports.map((p) => `ws://127.0.0.1:${p}/v1/agent/stream`);
  }
  get bases(): string[] {
    return this.ports.map((p) => `http://127.0.0.1:${p}`);
  }

  /** Starts replica `i` (again: on its old port). */
  async startOne(i: number): Promise<void> {
    // BENCH_PROFILE=DIR: each replica writes a V8 CPU profile there when it exits (SIGTERM at the end)
    const prof = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
    const proc = fork(SCRIPT, [], { execArgv: [...process.execArgv, ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const p: Proc = { proc, waiting: new Map() };
    this.procs[i] = p;
    proc.on('message', (m: { type: string } & Record<string, unknown>) => {
      if (m.type === 'up')
        proc.send({
          type: 'start',
          databaseUrl: this.databaseUrl,
          stateDir: this.stateDir,
          port: this.ports[i] ?? 0,
          adminToken: this.adminToken,
        });
      else p.waiting.get(m.type)?.shift()?.(m);
    });
    const m = await this.wait(i, 'listening', 120_000);
    this.ports[i] = m.port as number;
  }

  private wait(i: number, type: string, ms = 30_000): Promise<Record<string, unknown>> {
    const p = this.procs[i]!;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replica ${i}: no ${type} in ${ms} ms`)), ms);
      const list = p.waiting.get(type) ?? [];
      list.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
      p.waiting.set(type, list);
    });
  }

  private async ask(i: number, type: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const reply = this.wait(i, type);
    this.procs[i]!.proc.send({ ...args, type });
    return reply;
  }

  /** Heap + external after a full GC, per live replica (undefined: not running). */
  async memory(): Promise<Array<number | undefined>> {
    return Promise.all(this.procs.map(async (p, i) => (p ? ((await this.ask(i, 'mem')).bytes as number) : undefined)));
  }

  /** CPU time used so far (user + system, ms), per live replica. */
  async cpu(): Promise<Array<number | undefined>> {
    return Promise.all(
      this.procs.map(async (p, i) => {
        if (!p) return undefined;
        const m = await this.ask(i, 'cpu');
        return (m.userMs as number) + (m.systemMs as number);
      }),
    );
  }

  /** Starts or stops a CPU profile of every live replica (written to `dir` when it stops). */
  async profile(on: boolean, dir: string): Promise<void> {
    await Promise.all(this.procs.map(async (p, i) => p && (await this.ask(i, 'profile', { on, dir }))));
  }

  /** Sum of a counter over the live replicas' /metrics. */
  async metric(name: string): Promise<number> {
    const texts = await Promise.all(this.procs.map(async (p, i) => (p ? ((await this.ask(i, 'metrics')).text as string) : '')));
    return texts.reduce((a, t) => a + Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(t)?.[1] ?? 0), 0);
  }

  /** SIGKILL: the replica dies with its connections (a crash, or a restart without draining). */
  async kill(i: number): Promise<void> {
    const p = this.procs[i];
    if (!p) return;
    this.procs[i] = undefined;
    const exited = new Promise((r) => p.proc.once('exit', r));
    p.proc.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    if (process.env.BENCH_PROFILE) {
      // a profile is written only on a clean exit
      const exits = this.procs.map(async (p) => {
        if (!p) return;
        const exited = new Promise((r) => p.proc.once('exit', r));
        p.proc.send({ type: 'exit' });
        await exited;
      });
      await Promise.all(exits);
      this.procs.fill(undefined);
    }
    await Promise.all(this.procs.map((_, i) => this.kill(i)));
  }
}
