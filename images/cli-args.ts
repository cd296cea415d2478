import { ImageError } from './errors.js';
import { parseImageRef } from './ref.js';
import type { ManifestInput } from './manifest.js';

/** `K=V` → env entry. */
export function parseEnv(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new ImageError('invalid-manifest', `parse --env ${JSON.stringify(kv)}: expected KEY=VALUE`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** `8080`, `53/udp` → port entry. */
export function parsePorts(list: string[]): NonNullable<ManifestInput['ports']> {
  return list.map((p) => {
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(p);
    if (!m) throw new ImageError('invalid-manifest', `parse --port ${JSON.stringify(p)}: expected PORT or PORT/udp`);
    return { port: Number(m[1]), protocol: (m[2] ?? 'tcp') as 'tcp' | 'udp' };
  });
}

/** `--base NAME:VERSION`: a derivative is built against one exact base version. */
export function parseBase(ref: string | undefined): ManifestInput['base'] {
  if (ref === undefined) return undefined;
  const r = parseImageRef(ref);
  if (!r.version) throw new ImageError('invalid-ref', `parse --base ${ref}: give the base version (NAME:VERSION)`);
  return { name: r.name, version: r.version };
}

/** `URL=KEYFILE` → repository (the key file is read by the caller). */
export function parseRepoArg(arg: string): { url: string; keyFile?: string } {
  const i = arg.indexOf('=');
  return i < 0 ? { url: arg } : { url: arg.slice(0, i), keyFile: arg.slice(i + 1) };
}

/** `CONTAINER=NAME:VERSION` → container image. */
export function parseContainerArg(arg: string): { container: string; image: string } {
  const i = arg.indexOf('=');
  if (i <= 0) throw new ImageError('invalid-ref', `parse container ${JSON.stringify(arg)}: expected CONTAINER=NAME:VERSION`);
  return { container: arg.slice(0, i), image: arg.slice(i + 1) };
}
