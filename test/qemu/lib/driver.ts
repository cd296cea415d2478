/**
 * The dataplane CLI driver (node-agent/dataplane/cli.ts) in a node namespace,
 * started from the compiled dist/ when run.sh built it: under TCG, tsx needs
 * ~50 s to compile the agent on first start, plain node ~5 s. Same line
 * protocol as test/netns/harness.ts's DataplaneProc.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NodeView } from '../../../protocol/view.js';
import type { ApplyOut, NodeNs } from '../../netns/harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIST_CLI = `${ROOT}dist/node-agent/dataplane/cli.js`;
const TS_CLI = `${ROOT}node-agent/dataplane/cli.ts`;

function cliArgs(): string[] {
  // an explicit built CLI (e.g. a patched copy of dist/ under .scratch/ for an experiment)
  if (process.env.FREIGHT_DATAPLANE_CLI) return [process.env.FREIGHT_DATAPLANE_CLI];
  const useDist = process.env.FREIGHT_DATAPLANE_DIST === '1' && existsSync(DIST_CLI);
  return useDist ? [DIST_CLI] : ['--import', 'tsx', TS_CLI];
}

export class Driver {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  private readonly stderr: string[] = [];
  private exited = false;
  readonly ready: Promise<Record<string, unknown>>;

  constructor(readonly node: NodeNs, auditMs = 3_600_000) {
    this.child = spawn('ip', ['netns', 'exec', node.ns, process.execPath, ...cliArgs(),
      '--node', node.name, '--underlay-ip', node.underlayIp, '--audit-ms', String(auditMs)]);
    this.ready = new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.resolve(JSON.parse(line) as Record<string, unknown>));
    createInterface({ input: this.child.stderr }).on('line', (line) => this.stderr.push(line));
    this.child.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiting.splice(0)) w.reject(new Error(`dataplane on ${node.name} exited ${code}: ${this.stderr.slice(-5).join('\n')}`));
    });
  }

  send(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`dataplane on ${this.node.name} exited`));
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  /** Applies a view; throws with the driver's message when the answer is not a result. */
  async apply(view: NodeView): Promise<ApplyOut> {
    const r = await this.send({ cmd: 'apply', view });
    if (r.type !== 'result') throw new Error(`apply on ${this.node.name}: ${JSON.stringify(r)}\n${this.stderr.slice(-5).join('\n')}`);
    return r as unknown as ApplyOut;
  }

  kill(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

/** Starts one driver per node, in parallel, and waits until all are ready. */
export async function startDrivers(nodes: NodeNs[]): Promise<Driver[]> {
  const ds = nodes.map((n) => new Driver(n));
  await Promise.all(ds.map((d) => d.ready));
  return ds;
}
