/**
 * A real controller process (dist/controller/main.js serve) on its embedded database, plaintext on
 * loopback, for the console's browser tests that need no agents. Its console is dist/web, as built
 * by `npm run build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export class Controller {
  readonly token = randomBytes(20).toString('hex');
  base = '';
  private p?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'freight-console-'));

  async start(): Promise<void> {
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    // the embedded database: a DATABASE_URL of the caller's environment must not point it elsewhere
    const { DATABASE_URL: _ignored, ...env } = process.env;
    const log = openSync(path.join(this.dir, 'controller.log'), 'a');
    this.p = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist/controller/main.js'),
        'serve',
        '--insecure',
        '--listen',
        `127.0.0.1:${port}`,
        '--state-dir',
        path.join(this.dir, 'state'),
      ],
      { env: { ...env, FREIGHT_ADMIN_TOKEN: this.token }, stdio: ['ignore', log, log] },
    );
    const end = Date.now() + 60_000;
    for (;;) {
      if (this.p.exitCode !== null) throw new Error(`controller exited ${this.p.exitCode} (log: ${this.dir}/controller.log)`);
      if (
        await fetch(`${this.base}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
      if (Date.now() > end) throw new Error(`controller not healthy after 60 s (log: ${this.dir}/controller.log)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Connection resets retried (each POST carries an Idempotency-Key, so a retry never creates twice). */
  retries = 0;

  /** One API call: its status and parsed body. */
  async api<T = any>(method: string, url: string, body?: unknown, token = this.token): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST') headers['idempotency-key'] = randomUUID();
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(this.base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        break;
      } catch (e) {
        // a kept-alive socket the server closed just as it was reused (seen under 64 concurrent creates)
        if (attempt >= 3) throw e;
        this.retries++;
      }
    }
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async must<T = any>(method: string, url: string, body?: unknown, token = this.token): Promise<T> {
    const r = await this.api<T>(method, url, body, token);
    if (r.status >= 300) throw new Error(`${method} ${url} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async stop(): Promise<void> {
    const p = this.p;
    if (p && p.exitCode === null && p.signalCode === null) {
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGTERM');
        setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
      });
    }
    if (!process.env.FREIGHT_KEEP_LOGS) rmSync(this.dir, { recursive: true, force: true });
  }
}
