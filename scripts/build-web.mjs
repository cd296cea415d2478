// Bundles the web console (web/) into dist/web with esbuild: one app.js and one app.css, no
// inline script or style (the controller's CSP is script-src 'self', style-src 'self'), nothing
// fetched at run time. `npm run build` runs it after tsc; web/tsconfig.json type-checks the sources.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist/web');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: path.join(root, 'web/src/main.tsx') },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(path.join(root, 'web/index.html'), path.join(out, 'index.html'));
