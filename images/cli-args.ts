import type { Command } from 'commander';
import { ImageError } from './errors.js';
import { parseImageRef } from './ref.js';
import type { ManifestInput } from './manifest.js';

/** `K=V` → env entry. */
export function parseEnv(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new ImageError('invalid_manifest', `parse --env ${JSON.stringify(kv)}: expected KEY=VALUE`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** `8080`, `53/udp` → port entry. */
export function parsePorts(list: string[]): NonNullable<ManifestInput['ports']> {
  return list.map((p) => {
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(p);
    if (!m) throw new ImageError('invalid_manifest', `parse --port ${JSON.stringify(p)}: expected PORT or PORT/udp`);
    return { port: Number(m[1]), protocol: (m[2] ?? 'tcp') as 'tcp' | 'udp' };
  });
}

/** `--base NAME:VERSION`: a derivative is built against one exact base version. */
export function parseBase(ref: string | undefined): ManifestInput['base'] {
  if (ref === undefined) return undefined;
  const r = parseImageRef(ref);
  if (!r.version) throw new ImageError('invalid_ref', `parse --base ${ref}: give the base version (NAME:VERSION)`);
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
  if (i <= 0) throw new ImageError('invalid_ref', `parse container ${JSON.stringify(arg)}: expected CONTAINER=NAME:VERSION`);
  return { container: arg.slice(0, i), image: arg.slice(i + 1) };
}

/** Options of `image build`, shared by freightctl and the images/ development CLI. */
export interface BuildOptions {
  version: string;
  from?: string;
  packages?: string[];
  base?: string;
  command?: string[];
  env?: string[];
  port?: string[];
  out: string;
}

/** Commander collector for repeatable options. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Declares the `image build` options on a commander command. */
export function withBuildOptions<C extends Command>(cmd: C): C {
  return cmd
    .requiredOption('--version <v>', 'image version (rpm version: no dashes)')
    .option('--from <dir>', 'rootfs directory (for a derivative: only its overriding directories)')
    .option('--packages <rpm...>', 'RPM files installed into a fresh tree (keeps its rpm database)')
    .option('--base <name:version>', 'base image of a derivative')
    .option('--command <arg...>', 'default command')
    .option('--env <k=v>', 'environment variable (repeatable)', collect)
    .option('--port <p>', 'exposed port, 80 or 53/udp (repeatable)', collect)
    .option('--out <dir>', 'output directory', '.');
}

/** The buildImage() input from parsed `image build` options. */
export function buildInput(name: string, o: BuildOptions) {
  const manifest = {
    name,
    version: o.version,
    command: o.command ?? [],
    env: parseEnv(o.env ?? []),
    ports: parsePorts(o.port ?? []),
    base: parseBase(o.base),
  };
  return { manifest, from: o.from, packages: o.packages, outDir: o.out };
}
