import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The console's built assets: dist/web (from dist/controller, or from the sources through tsx/vitest).
 * A directory counts only with the bundle in it: from controller/, `../web` is the console's sources
 * (web/index.html, no app.js), which must never be served.
 */
export function consoleAssets(dir?: string): string | undefined {
  const candidates = dir ? [dir] : [path.resolve(here, '../web'), path.resolve(here, '../dist/web')];
  return candidates.find((d) => existsSync(path.join(d, 'index.html')) && existsSync(path.join(d, 'app.js')));
}

/**
 * Same origin, no third party: scripts and styles from the controller only, no framing, no
 * referrer (URLs never hold the token anyway: it is typed into the login form and kept in
 * sessionStorage).
 */
const HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Serves the web console at `/` (docs/console.md): static files built by `npm run build`. */
export async function registerConsole(app: FastifyInstance, dir?: string): Promise<void> {
  const root = consoleAssets(dir);
  if (!root) {
    app.get('/', async (_req, reply) =>
      reply.code(404).send({ code: 'not_found', message: 'web console not built: run npm run build (it writes dist/web)' }),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    index: ['index.html'],
    wildcard: false,
    cacheControl: false,
    setHeaders: (res) => {
      for (const [k, v] of Object.entries(HEADERS)) res.header(k, v);
      res.header('cache-control', 'no-cache');
    },
  });
}
