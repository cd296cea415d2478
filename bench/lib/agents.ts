/** The parent's side of bench/lib/sim-agents.ts: simulated agents spread over several processes. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimAgent } from './sim-agents.js';

const SCRIPT = fileURLToPath(new URL('./sim-agents.ts', import.meta.url));

export interface ByteCount {
  bytes: { plain: number; compact: number };
  wire: { plain: number; compact: number };
  counts: { plain: number; compact: number };
  /** clients whose connection negotiated permessage-deflate */
  deflate: number;
}

export interface Where {
  /** open connections by stream URL */
  byUrl: Record<string, number>;
  reconnects: number;
  snapshots: number;
  /** connects that failed (refused, reset, timed out) and were retried */
  failedConnects: number;
  lastError: string;
}

export class Agents {
  private readonly procs: ChildProcess[] = [];
  private seq = 0;
  private readonly waiting = new Map<number, { left: number; t: number; resolve(t: number): void }>();
  private readonly replies = new Map<string, Array<(m: Record<string, unknown>) => void>>();

  /** The agent processes' ids. */
  get pids(): number[] {
    return this.procs.flatMap((p) => (p.pid ? [p.pid] : []));
  }

  /** Starts the agents in `nprocs` processes; resolves once every agent has its first snapshot. */
  static async start(agents: SimAgent[], nprocs: number, readyMs = 300_000): Promise<Agents> {
    const self = new Agents();
    const parts: SimAgent[][] = Array.from({ length: nprocs }, () => []);
    agents.forEach((a, i) => parts[i % nprocs].push(a));
    await Promise.all(parts.map((part) => self.spawn(part, readyMs)));
    return self;
  }

  private spawn(agents: SimAgent[], readyMs: number): Promise<void> {
    const p = fork(SCRIPT, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.procs.push(p);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agents did not get their snapshots in ${readyMs / 1000} s`)), readyMs);
      p.on('message', (m: { type: string; id?: number; t?: number; message?: string } & Record<string, unknown>) => {
        if (m.type === 'up') p.send({ type: 'start', agents });
        else if (m.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (m.type === 'reached') {
          const w = this.waiting.get(m.id!)!;
          w.t = Math.max(w.t, m.t!);
          if (--w.left === 0) {
            this.waiting.delete(m.id!);
            w.resolve(w.t);
          }
        } else if (m.type === 'error') console.error('agent error:', m.message);
        else this.replies.get(m.type)?.shift()?.(m);
      });
    });
  }

  /** Resolves with the time the last agent had received (and acked) `revision`. */
  reached(revision: number): Promise<number> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, { left: this.procs.length, t: 0, resolve });
      for (const p of this.procs) p.send({ type: 'expect', id, revision });
    });
  }

  private askAll(type: string): Promise<Array<Record<string, unknown>>> {
    return Promise.all(
      this.procs.map(
        (p) =>
          new Promise<Record<string, unknown>>((r) => {
            const list = this.replies.get(type) ?? [];
            list.push(r);
            this.replies.set(type, list);
            p.send({ type });
          }),
      ),
    );
  }

  /** Delta and socket bytes read since the last call, by encoding. */
  async bytes(): Promise<ByteCount> {
    const rs = (await this.askAll('bytes')) as unknown as ByteCount[];
    const sum = (k: 'bytes' | 'wire' | 'counts', e: 'plain' | 'compact') => rs.reduce((a, b) => a + b[k][e], 0);
    return {
      bytes: { plain: sum('bytes', 'plain'), compact: sum('bytes', 'compact') },
      wire: { plain: sum('wire', 'plain'), compact: sum('wire', 'compact') },
      counts: { plain: sum('counts', 'plain'), compact: sum('counts', 'compact') },
      deflate: rs.reduce((a, b) => a + b.deflate, 0),
    };
  }

  async where(): Promise<Where> {
    const rs = (await this.askAll('where')) as unknown as Where[];
    const byUrl: Record<string, number> = {};
    for (const r of rs) for (const [u, n] of Object.entries(r.byUrl)) byUrl[u] = (byUrl[u] ?? 0) + n;
    const total = (k: 'reconnects' | 'snapshots' | 'failedConnects') => rs.reduce((a, r) => a + r[k], 0);
    const lastError = rs.map((r) => r.lastError).find(Boolean) ?? '';
    return { byUrl, reconnects: total('reconnects'), snapshots: total('snapshots'), failedConnects: total('failedConnects'), lastError };
  }

  stop(): void {
    for (const p of this.procs) p.send({ type: 'stop' });
  }
}
