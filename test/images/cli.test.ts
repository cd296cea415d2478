import { execFile, execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImageCli } from '../../images/cli.js';
import { haveTools, makeKey, serveDir, stopAgents, tmpBase } from './support.js';

const exec = promisify(execFile);
const CLI = path.resolve(import.meta.dirname, '../../images/cli.ts');
const TSX = path.resolve(import.meta.dirname, '../../node_modules/.bin/tsx');
/** The CLI in-process (tsx start-up costs seconds a call); one test below runs it as a process. */
async function cli(...args: string[]): Promise<any> {
  let out = '';
  let err = '';
  const code = await runImageCli(
    args,
    (t) => (out += t),
    (t) => (err += t),
  );
  if (code !== 0) throw new Error(`cli ${args.join(' ')} exited ${code}: ${err}`);
  return JSON.parse(out || 'null');
}

const missing = haveTools();

/** A plain (non-image) package, as a distribution would ship: one file, its own rpm metadata. */
function packageRpm(dir: string): string {
  const spec = path.join(dir, 'motd.spec');
  execFileSync('sh', [
    '-c',
    `cat > ${spec} <<'S'
Name: demo-motd
Version: 3.1
Release: 1
Summary: a file
License: none
BuildArch: noarch
%description
demo
%install
mkdir -p %{buildroot}/etc && echo 'from a package' > %{buildroot}/etc/motd
%files
/etc/motd
S`,
  ]);
  execFileSync('rpmbuild', [
    '-bb',
    '--quiet',
    '--define',
    `_topdir ${dir}/top`,
    '--define',
    `_rpmdir ${dir}`,
    '--define',
    '_rpmfilename %%{NAME}.rpm',
    spec,
  ]);
  return path.join(dir, 'demo-motd.rpm');
}

describe.skipIf(missing)('images/cli.ts', () => {
  let tmp: string;
  let server: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    tmp = await tmpBase();
  });
  afterAll(async () => {
    await server?.close();
    if (tmp) await stopAgents(tmp);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('builds from packages (keeping their rpm database), signs, publishes, pulls, resolves, lists outdated', async () => {
    const key = await makeKey(tmp, 'cli@freight.invalid');
    const out = path.join(tmp, 'out');
    const built = await cli(
      'build',
      'motd',
      '--version',
      '1',
      '--packages',
      packageRpm(tmp),
      '--command',
      '/bin/cat',
      '/etc/motd',
      '--env',
      'A=b=c',
      '--port',
      '53/udp',
      '--out',
      out,
    );
    expect(built.manifest).toEqual({
      name: 'motd',
      version: '1',
      command: ['/bin/cat', '/etc/motd'],
      env: { A: 'b=c' },
      ports: [{ port: 53, protocol: 'udp' }],
    });
    const layer = path.join(tmp, 'v2');
    await mkdir(path.join(layer, 'etc'), { recursive: true });
    const v2 = await cli('build', 'motd', '--version', '1.10', '--from', layer, '--out', out);
    await cli('sign', built.rpm, v2.rpm, '--key', key.keyId, '--gnupg-home', key.gnupgHome);
    await cli('publish', path.join(tmp, 'repo'), built.rpm, v2.rpm);
    server = await serveDir(path.join(tmp, 'repo'));
    const keyFile = path.join(tmp, 'key.asc');
    await writeFile(
      keyFile,
      execFileSync('gpg', ['--armor', '--export', key.keyId], { env: { ...process.env, GNUPGHOME: key.gnupgHome } }),
    );

    const state = path.join(tmp, 'state');
    const pulled = await cli('pull', 'motd:1', '--state-dir', state, '--tenant', 'acme', '--repo', `${server.url}=${keyFile}`);
    // the package's own rpm database travelled inside the image
    const rootfs = pulled.lowerdirs[0] as string;
    const inside = execFileSync('rpm', ['--root', rootfs, '--dbpath', '/var/lib/rpm', '-q', 'demo-motd'], { encoding: 'utf8' });
    expect(inside.trim()).toBe('demo-motd-3.1-1.noarch');
    expect(await cli('installed', '--state-dir', state, '--tenant', 'acme')).toEqual([{ name: 'motd', version: '1', release: '1' }]);

    expect((await cli('resolve', 'motd', '--repo', server.url)).version).toBe('1.10');
    expect(await cli('outdated', 'a=motd:1', 'b=motd:1.10', '--repo', server.url)).toEqual([
      { container: 'a', name: 'motd', current: '1', newest: '1.10' },
    ]);
  });

  it('as a process: exits 1 with the error code and a message naming the object', async () => {
    const err = await exec(TSX, [CLI, 'resolve', 'nginx', '--repo', server.url]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1, stderr: 'error not_found: resolve image nginx: no repository of the tenant offers it\n' });
  });

  it('refuses a repository given without its key', async () => {
    await expect(cli('pull', 'motd', '--state-dir', tmp, '--tenant', 'acme', '--repo', server.url)).rejects.toThrow(
      /error unknown_key: pull motd: repository .* needs its public key/,
    );
  });
});
