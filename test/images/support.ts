import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, stat, symlink, copyFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { FetchPolicy } from '../../images/http-get.js';

/** The test repositories are served on 127.0.0.1 over http: both need the admin's explicit leave. */
export const LOOPBACK_POLICY: FetchPolicy = { address: { allowCidrs: ['127.0.0.1/32'] }, allowHttp: true, timeoutMs: 10_000 };

/** A yum repository served on loopback the way a plain web server would: static files, 404 otherwise. */
export async function serveDir(dir: string, host = '127.0.0.1'): Promise<Served> {
  return serveWith(host, async (req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(dir, path.normalize(rel));
    const s = file.startsWith(dir) ? await stat(file).catch(() => undefined) : undefined;
    if (!s?.isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': s.size });
    createReadStream(file).pipe(res);
  });
}

export interface Served {
  url: string;
  /** Requests answered so far (paths): proves what was, or was never, fetched. */
  hits: string[];
  close(): Promise<void>;
}

/** An HTTP server on `host` (a loopback address) that the test scripts. */
export async function serveWith(host: string, handler: http.RequestListener): Promise<Served> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/`,
    hits,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Stops the gpg-agents of the throw-away GnuPG homes under `parent` (before the directory is removed). */
export async function stopAgents(parent: string): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  for (const d of await readdir(parent).catch(() => [] as string[])) {
    if (!d.startsWith('gpg-')) continue;
    try {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: path.join(parent, d) }, stdio: 'ignore' });
    } catch {
      // no agent running: nothing to stop
    }
  }
}

/** A throw-away signing key in its own GnuPG home. */
export async function makeKey(parent: string, email: string): Promise<{ keyId: string; gnupgHome: string }> {
  const gnupgHome = await mkdtemp(path.join(parent, 'gpg-'));
  execFileSync('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `Freight Test <${email}>`, 'rsa2048', 'sign', 'never'], {
    env: { ...process.env, GNUPGHOME: gnupgHome },
    stdio: 'ignore',
  });
  return { keyId: email, gnupgHome };
}

/** A busybox rootfs from Debian's busybox-static: /bin/busybox plus one symlink per applet. */
export async function busyboxTree(dir: string): Promise<string> {
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) await symlink('busybox', path.join(dir, 'bin', a)).catch(() => {});
  // nspawn wants /usr to accept a tree as an OS root
  for (const d of ['etc', 'tmp', 'proc', 'dev', 'usr']) await mkdir(path.join(dir, d), { recursive: true });
  await writeFile(path.join(dir, 'etc', 'motd'), 'busybox base\n');
  return dir;
}

/** Flips bytes inside the payload (the file's tail), leaving header and signature intact. */
export async function tamper(file: string): Promise<void> {
  const buf = await readFile(file);
  for (let i = buf.length - 4096; i < buf.length - 4000; i++) buf[i] ^= 0xff;
  await writeFile(file, buf);
}

export const tmpBase = () => mkdtemp(path.join(os.tmpdir(), 'freight-images-'));

export function haveTools(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const t of ['rpmbuild', 'rpmsign', 'rpmkeys', 'createrepo_c', 'gpg', 'gpg-agent']) {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      return `${t} missing (apt-get install rpm createrepo-c gnupg gpg-agent)`;
    }
  }
  return undefined;
}

/** What a hostile tenant adds to an otherwise normal image spec (test/images/hostile.test.ts). */
export interface HostileParts {
  /** shell lines appended to %install (paths relative to %{buildroot}) */
  install?: string[];
  /** extra %files lines */
  files?: string[];
  /** scriptlet sections, e.g. `%post` + body lines */
  scripts?: string[];
}

/**
 * Builds an image RPM the way buildImage does (renderSpec, rpmbuild) with hostile parts
 * spliced into its spec: scriptlets, files outside the payload, a symlinked rootfs, device
 * nodes (%dev), setuid files. Signing is up to the caller (a tenant signs its own packages).
 */
export async function buildHostileImage(work: string, name: string, tree: string, parts: HostileParts): Promise<string> {
  const { renderSpec } = await import('../../images/spec.js');
  const { Manifest } = await import('../../images/manifest.js');
  const manifest = Manifest.parse({ name, version: '1', command: ['/bin/sh'] });
  const dir = await mkdtemp(path.join(work, `hostile-${name}-`));
  const manifestFile = path.join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(manifest));
  let spec = renderSpec({ manifest, rootfsDir: path.resolve(tree), manifestFile });
  spec = spec.replace(/(install -m 0644 [^\n]*\n)/, `$1${(parts.install ?? []).join('\n')}\n`);
  spec = spec.replace('%files\n', `${(parts.scripts ?? []).join('\n')}\n\n%files\n`);
  spec += `${(parts.files ?? []).join('\n')}\n`;
  const specFile = path.join(dir, 'image.spec');
  await writeFile(specFile, spec);
  const out = path.join(dir, 'out');
  execFileSync(
    'rpmbuild',
    [
      '-bb',
      '--quiet',
      '--define',
      `_topdir ${dir}/top`,
      '--define',
      `_tmppath ${dir}`,
      '--define',
      `_rpmdir ${out}`,
      '--define',
      '_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
      specFile,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const { readdir } = await import('node:fs/promises');
  return path.join(
    out,
    (await readdir(out)).find((f) => f.endsWith('.rpm'))!,
  );
}

/**
 * A small ordinary RPM (not an image): `/usr/share/NAME/version` holding `VERSION-RELEASE`,
 * noarch, no scriptlets. What `image build --packages` installs and a package repository offers.
 */
export async function buildComponentRpm(work: string, name: string, version: string, release = '1'): Promise<string> {
  const dir = await mkdtemp(path.join(work, `pkg-${name}-`));
  const spec = [
    `Name: ${name}`,
    `Version: ${version}`,
    `Release: ${release}`,
    `Summary: test component ${name}`,
    'License: MIT',
    'BuildArch: noarch',
    '%define _build_id_links none',
    '%description',
    `test component ${name}`,
    '%install',
    `mkdir -p %{buildroot}/usr/share/${name}`,
    `echo ${version}-${release} > %{buildroot}/usr/share/${name}/version`,
    '%files',
    `/usr/share/${name}`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, `${name}.spec`), spec);
  const out = path.join(dir, 'out');
  execFileSync(
    'rpmbuild',
    [
      '-bb',
      '--quiet',
      '--define',
      `_topdir ${dir}/top`,
      '--define',
      `_tmppath ${dir}`,
      '--define',
      `_rpmdir ${out}`,
      '--define',
      '_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
      path.join(dir, `${name}.spec`),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return path.join(out, `${name}-${version}-${release}.noarch.rpm`);
}
