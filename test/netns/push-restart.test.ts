import { execFile, spawnSync } from 'node:child_process';
import { isDeepStrictEqual, promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileView } from '../../controller/view/compile.js';
import { loadState } from '../../controller/view/load.js';
import type { Db } from '../../controller/store/db.js';
import { isRoot } from '../support/netns.js';
import { Seed, TEST_SEALER, startController, tempDir, TestAgent, testDb, waitFor, type Controller } from './push-harness.js';

const HB = 100;
const PG_VERSION = spawnSync('ls', ['/etc/postgresql'], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean).sort().pop() ?? '';
const canRestartPg = isRoot && PG_VERSION !== '' && spawnSync('which', ['pg_ctlcluster']).status === 0;

/** Asynchronous: the controller and agents of this process must keep running meanwhile. */
async function pgCtl(action: 'restart' | 'start'): Promise<void> {
  await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', PG_VERSION, 'main', action], { timeout: 60_000 });
}
function pgOnline(): boolean {
  return /online/.test(spawnSync('pg_lsclusters', ['-h'], { encoding: 'utf8' }).stdout);
}

let db: Db;
let url: string;
let drop: () => Promise<void> = async () => {};
let seed: Seed;
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  ({ db, drop, url } = await testDb());
  seed = new Seed(db);
});
afterAll(async () => {
  if (canRestartPg && !pgOnline()) await pgCtl('start');
  for (const f of cleanup.reverse()) await f();
  await drop();
});

/** What the agent must hold: the view compiled from the database now. */
async function expected(node: string) {
  const { state, revision } = await db.tx(async (q) => {
    await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    return loadState(q, TEST_SEALER);
  });
  return { view: compileView(state, node, revision), revision };
}

describe('restarts during a stream', () => {
  it('agents converge after a controller restart and a PostgreSQL restart, applying strictly in order', async (ctx) => {
    const t = await seed.tenant('rs');
    const net = await seed.network(t, 'n', 400, '10.1.0.0/16');
    const nodes = [await seed.node('w1', '198.18.4.1'), await seed.node('w2', '198.18.4.2')];
    await seed.attach(t, net, 'c0', nodes[0].id, '10.1.0.5');
    let ctl: Controller = await startController(db, { heartbeatMs: HB, flushMs: 50 });
    const port = ctl.port;
    cleanup.push(() => ctl.close());
    const agents = nodes.map((n, i) => {
      const d = tempDir();
      cleanup.push(() => d.rm());
      const a = new TestAgent(ctl.url, n.token, `w${i + 1}`, `198.18.4.${i + 1}`, d.dir, HB);
      cleanup.push(() => a.stop());
      return a;
    });
    for (const a of agents) await a.start();
    await waitFor('agents connected', () => agents.every((a) => a.applied.length > 0));

    // a writer keeps changing the network throughout, on its own connection (re-made when the
    // database goes away; failed writes while it is away are expected)
    let writing = true;
    let k = 0;
    const writer = (async () => {
      let client: pg.Client | undefined;
      while (writing) {
        try {
          if (!client) {
            const c = new pg.Client({ connectionString: url });
            c.on('error', () => {});
            await c.connect();
            client = c;
          }
          k++;
          await client.query('BEGIN');
          const cid = (
            await client.query('INSERT INTO containers (tenant_id, name, image, node_id) VALUES ($1, $2, $3, $4) RETURNING id', [
              t,
              `c${k}`,
              'busybox',
              nodes[k % 2].id,
            ])
          ).rows[0].id;
          await client.query(
            'INSERT INTO endpoints (tenant_id, network_id, container_id, mac, ip, node_id) VALUES ($1, $2, $3, $4, $5, $6)',
            [
              t,
              net,
              cid,
              `02:00:00:01:${(k >> 8).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`,
              `10.1.${k >> 8}.${k & 255 || 1}`,
              nodes[k % 2].id,
            ],
          );
          await client.query('COMMIT');
        } catch {
          await client?.end().catch(() => {});
          client = undefined;
        }
        await new Promise((r) => setTimeout(r, 15));
      }
      await client?.end().catch(() => {});
    })();

    await new Promise((r) => setTimeout(r, 300));
    await ctl.close();
    await new Promise((r) => setTimeout(r, 200));
    ctl = await startController(db, { heartbeatMs: HB, flushMs: 50 }, port);
    await waitFor('reconnected to the new controller', () => ctl.hub.connected().length === 2, 5000);

    if (canRestartPg) {
      try {
        await pgCtl('restart');
      } finally {
        if (!pgOnline()) await pgCtl('start');
      }
      await new Promise((r) => setTimeout(r, 500));
    } else void ctx.annotate?.('PostgreSQL restart skipped: needs root and pg_ctlcluster');
    writing = false;
    await writer;

    for (const a of agents) {
      await waitFor(
        `${a.node} converged`,
        async () => {
          const want = await expected(a.node);
          if (process.env.DEBUG_PUSH)
            process.stderr.write(
              `DBG ${[a.node, a.session.revision, want.revision, ctl.hub.revision(), a.session.connected, Object.keys(a.view.endpoints).length, Object.keys(want.view.endpoints).length].join(' ')}\n`,
            );
          return a.session.revision === want.revision && isDeepStrictEqual({ ...a.view, revision: 0 }, { ...want.view, revision: 0 });
        },
        15_000,
      );
      expect(a.errors).toEqual([]);
      expect(Object.keys(a.view.endpoints).length).toBeGreaterThan(5);
    }
    await waitFor(
      'nodes table caught up',
      async () => {
        const newest = await seed.newestRevision();
        const rows = await Promise.all(['w1', 'w2'].map((n) => seed.nodeRow(n)));
        return rows.every((r) => r.ready && Number(r.applied_revision) === newest && Number(r.desired_revision) === newest);
      },
      5000,
    );
  });
});
