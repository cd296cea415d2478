import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../test/support/pg.js';

const ADMIN = 'concurrency-admin-token-of-at-least-32-chars';
// one state directory for both replicas: they share the master key, as replicas must
const STATE = mkdtempSync(join(tmpdir(), 'freight-concurrency-'));

/** Starts a real `freight-controller serve` (one node process, so SIGTERM reaches it) on an ephemeral port; resolves with its base URL. */
function startController(url: string): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'controller/main.ts',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--insecure',
      '--state-dir',
      STATE,
      '--database-url',
      url,
    ],
    {
      env: { ...process.env, FREIGHT_ADMIN_TOKEN: ADMIN },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('controller did not start in 30 s')), 30_000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /"address":"(http:\/\/[^"]+)"/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, base: m[1] });
      }
    });
    proc.on('exit', (code) => reject(new Error(`controller exited with ${code}`)));
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves with how it ended. */
const stop = (p: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode });
    const hard = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', (code, signal) => {
      clearTimeout(hard);
      resolve({ code, signal });
    });
    p.kill('SIGTERM');
  });

describe('two controller processes on one PostgreSQL', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  const procs: ChildProcess[] = [];
  let bases: string[] = [];
  beforeAll(async () => {
    fresh = await freshDatabase();
    // migrate once first: two replicas racing CREATE EXTENSION is not what this test is about
    const first = await startController(fresh.url);
    procs.push(first.proc);
    const second = await startController(fresh.url);
    procs.push(second.proc);
    bases = [first.base, second.base];
  });
  afterAll(async () => {
    await Promise.all(procs.map(stop));
    await fresh?.drop();
    rmSync(STATE, { recursive: true, force: true });
  });

  const post = (base: string, path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('hands out 200 distinct addresses and MACs to 200 concurrent creates, losing none', async () => {
    expect((await post(bases[0], '/v1/tenants', { name: 'race' })).status).toBe(201);
    expect((await post(bases[1], '/v1/tenants/race/networks', { name: 'net', cidr: '10.20.0.0/24' })).status).toBe(201);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        post(bases[i % 2], '/v1/tenants/race/containers', { name: `c${i}`, image: 'busybox', networks: ['net'] }).then(async (r) => ({
          status: r.status,
          body: await r.json(),
        })),
      ),
    );
    const failed = results.filter((r) => r.status !== 201);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toHaveLength(0);
    const ips = results.map((r) => r.body.endpoints[0].ip);
    const macs = results.map((r) => r.body.endpoints[0].mac);
    expect(new Set(ips).size).toBe(200);
    expect(new Set(macs).size).toBe(200);
    expect(ips).not.toContain('10.20.0.254'); // the infra address
    // what the API reports afterwards agrees: 200 containers, 201 endpoints (with the infra one)
    const eps: unknown[] = [];
    let next: string | null = '';
    while (next !== null) {
      const r: Response = await fetch(`${bases[1]}/v1/tenants/race/endpoints?limit=1000${next ? `&after=${next}` : ''}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      const page = (await r.json()) as { items: unknown[]; next: string | null };
      eps.push(...page.items);
      next = page.next;
    }
    expect(eps).toHaveLength(201);
  });

  it('shuts both controllers down gracefully on SIGTERM (exit 0)', async () => {
    const ends = await Promise.all(procs.map(stop));
    expect(ends).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
  });
});
