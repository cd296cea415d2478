import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { freshDatabase } from '../../test/support/pg.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';

/** mulberry32: a seeded PRNG, so a failing body can be reproduced from the seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}
type R = ReturnType<typeof prng>;

const ALPHABET = ['a', 'z', '0', '9', '-', '.', '/', ' ', 'é', 'ü', '漢', '😀', '\u0000', '"', '\\', '%', ':'];
function str(r: R): string {
  const len = r.pick([0, 1, 3, 8, 63, 64, 200, 4097]);
  let s = '';
  for (let i = 0; i < len; i++) s += r.pick(ALPHABET);
  return s;
}
function value(r: R, depth = 0): unknown {
  switch (r.int(depth > 1 ? 6 : 8)) {
    case 0:
      return null;
    case 1:
      return r.next() < 0.5;
    case 2:
      return r.pick([0, -1, 1, 576, 9001, 16_777_215, 16_777_216, 2 ** 53, 1.5, -0]);
    case 3:
      return str(r);
    case 4:
      return r.pick(['10.0.0.0/24', '10.0.0.0/33', '10.1.0.0/8', '300.0.0.0/24', '10.0.0.1', '10.0.0.0/30', 'busybox', 'vxlan', 'stop']);
    case 5:
      return r.pick(['a', 'web', 'x-y', 'UPPER', '-x', 'a'.repeat(64)]);
    case 6:
      return Array.from({ length: r.int(4) }, () => value(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [str(r).slice(0, 8), value(r, depth + 1)]));
  }
}

/** A valid body, then with probability one or more fields replaced, dropped or added. */
function mutate(r: R, valid: Record<string, unknown>): unknown {
  const roll = r.next();
  if (roll < 0.1) return value(r);
  if (roll < 0.15) return r.pick(['{', '{"name":', '[1,2', 'nul', '"str"', '{}'.repeat(3)]); // raw text, not JSON
  const body: Record<string, unknown> = { ...valid };
  const keys = Object.keys(body);
  for (let i = 0, n = r.int(3); i < n; i++) {
    const op = r.int(3);
    if (op === 0) body[r.pick(keys)] = value(r);
    else if (op === 1) delete body[r.pick(keys)];
    else body[r.pick([...keys, 'extra', '__proto__', 'constructor'])] = value(r);
  }
  return body;
}

describe('fuzz: random bodies on every create route answer 2xx or 4xx, never 5xx', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  let app: FastifyInstance;
  beforeAll(async () => {
    fresh = await freshDatabase();
    db = await openDb({ databaseUrl: fresh.url });
    await migrate(db);
    await ensureAdminToken(db, 'fuzz');
    app = await buildApp({ db, log: pino({ level: 'silent' }), push: false });
    const h = { authorization: 'Bearer fuzz' };
    await app.inject({ method: 'POST', url: '/v1/tenants', headers: h, payload: { name: 'fz' } });
    await app.inject({ method: 'POST', url: '/v1/tenants/fz/networks', headers: h, payload: { name: 'a', cidr: '10.0.0.0/16' } });
    await app.inject({ method: 'POST', url: '/v1/tenants/fz/networks', headers: h, payload: { name: 'tiny', cidr: '10.254.0.0/30' } }); // fills up: pool_exhausted
    await app.inject({
      method: 'POST',
      url: '/v1/tenants/fz/containers',
      headers: h,
      payload: { name: 'web', image: 'busybox', networks: ['a'] },
    });
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await fresh?.drop();
  });

  const routes: Array<[string, (r: R, i: number) => Record<string, unknown>]> = [
    ['/v1/tenants', (r, i) => ({ name: `t${i}` })],
    [
      '/v1/tenants/fz/networks',
      (r, i) => ({ name: `n${i}`, cidr: `10.${1 + r.int(250)}.${r.int(256)}.0/24`, type: r.pick(['vxlan', 'ipsec']), mtu: 1400 }),
    ],
    [
      '/v1/tenants/fz/containers',
      (r, i) => ({
        name: `c${i}`,
        image: 'busybox',
        networks: r.pick([['a'], ['a'], ['tiny'], ['a', 'tiny']]),
        command: ['sleep', '1'],
        restart: 'always',
      }),
    ],
    ['/v1/tokens', (r) => r.pick([{ kind: 'admin' }, { kind: 'tenant', tenant: 'fz' }, { kind: 'node', node: 'n1' }])],
    ['/v1/tenants/fz/containers/web/actions', (r) => ({ action: r.pick(['start', 'stop']) })],
  ];

  it.each(routes)('POST %s × 2000', async (url, valid) => {
    const r = prng(0xf4e1 + url.length);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      const body = mutate(r, valid(r, i));
      const payload = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await app.inject({
        method: 'POST',
        url,
        headers: { authorization: 'Bearer fuzz', 'content-type': 'application/json' },
        payload,
      });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500 || res.statusCode < 200) throw new Error(`#${i} ${payload.slice(0, 300)} → ${res.statusCode} ${res.body}`);
      if (res.statusCode >= 400) expect(res.json()).toHaveProperty('code');
    }
    // the generator must reach the database, not only the validator
    const ok = [...statuses].filter(([s]) => s < 300).reduce((a, [, n]) => a + n, 0);
    expect(ok).toBeGreaterThan(50);
  });
});
