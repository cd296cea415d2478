import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { consoleAssets, registerConsole } from './console.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'freight-console-assets-'));
writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/app.js"></script>');
writeFileSync(path.join(dir, 'app.js'), 'export {};');

describe('console assets', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves index.html at / and the bundle with the strict CSP and no-referrer, nothing outside the directory', async () => {
    const app = Fastify();
    await registerConsole(app, dir);
    const root = await app.inject({ url: '/' });
    expect(root.statusCode).toBe(200);
    expect(root.body).toContain('/app.js');
    expect(root.headers['content-security-policy']).toContain("script-src 'self'; style-src 'self'");
    expect(root.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(root.headers['referrer-policy']).toBe('no-referrer');
    expect(root.headers['x-frame-options']).toBe('DENY');
    const js = await app.inject({ url: '/app.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    for (const url of ['/../package.json', '/%2e%2e/package.json', '/missing.js']) expect((await app.inject({ url })).statusCode).toBe(404);
    await app.close();
  });

  it('never takes the console sources (web/, no bundle) for the built assets; without a build / says how to make one', async () => {
    const sources = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../web');
    expect(consoleAssets(sources)).toBeUndefined();
    const app = Fastify();
    await registerConsole(app, sources);
    const r = await app.inject({ url: '/' });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({ code: 'not_found', message: 'web console not built: run npm run build (it writes dist/web)' });
    await app.close();
  });
});
