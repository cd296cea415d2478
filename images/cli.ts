#!/usr/bin/env node
/**
 * Image tooling for development: `npx tsx images/cli.ts <command>`. Users run
 * `freightctl image build|sign|publish` (controller/cli/images.ts); pull, resolve and
 * installed stay here for debugging a node without a cluster.
 *   build NAME --version V (--from DIR | --packages RPM…) [--base NAME:V] [--command ARG…] [--env K=V…] [--port P[/udp]…] [--out DIR]
 *   sign RPM… --key ID [--gnupg-home DIR]      publish REPO_DIR [RPM…]
 *   pull REF --state-dir DIR --tenant T --repo URL=KEYFILE…
 *   resolve REF --repo URL…                    outdated CONTAINER=NAME:V… --repo URL…
 *   installed --state-dir DIR --tenant T
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { buildImage } from './build.js';
import { buildInput, collect, parseContainerArg, parseRepoArg, withBuildOptions, type BuildOptions } from './cli-args.js';
import { ImageError, isImageError } from './errors.js';
import { installedImages } from './install.js';
import { publishRepo } from './publish.js';
import { pullImage } from './pull.js';
import { fetchIndexes, NODE_POLICY } from './repo-client.js';
import { outdated, resolveImage } from './resolve.js';
import { tenantRoot } from './rpmroot.js';
import { signRpms } from './sign.js';

type Write = (text: string) => void;

/** The `image` command tree; `write` receives each result as JSON (freightctl can mount it as a subcommand). */
export function imageCommand(write: Write = (t) => void process.stdout.write(t)): Command {
  const print = (v: unknown): void => write(JSON.stringify(v, null, 2) + '\n');
  const cmd = new Command('image').description('container images as signed RPMs in yum repositories');
  const build = cmd.command('build <name>');
  withBuildOptions(build).action(async (name: string, o: BuildOptions) => print(await buildImage(buildInput(name, o))));
  cmd
    .command('sign <rpm...>')
    .requiredOption('--key <id>', 'gpg key id or user id')
    .option('--gnupg-home <dir>', 'GnuPG home', process.env.GNUPGHOME ?? `${process.env.HOME}/.gnupg`)
    .action(async (rpms: string[], o) => signRpms(rpms, { keyId: o.key, gnupgHome: o.gnupgHome }));
  cmd
    .command('publish <repoDir> [rpm...]')
    .option('--key-id <id>', 'sign repodata/repomd.xml with this gpg key')
    .option('--gnupg-home <dir>', 'GnuPG home holding the secret key', process.env.GNUPGHOME ?? `${process.env.HOME}/.gnupg`)
    .action(async (dir: string, rpms: string[], o) =>
      publishRepo(dir, rpms, o.keyId ? { keyId: o.keyId, gnupgHome: o.gnupgHome } : undefined),
    );
  cmd
    .command('pull <ref>')
    .requiredOption('--state-dir <dir>')
    .requiredOption('--tenant <name>')
    .requiredOption('--repo <url=keyfile>', 'repository and its public key file (repeatable)', collect)
    .action(async (ref: string, o) => {
      const repos = await Promise.all(
        (o.repo as string[]).map(parseRepoArg).map(async ({ url, keyFile }) => {
          if (!keyFile) throw new ImageError('unknown_key', `pull ${ref}: repository ${url} needs its public key (--repo URL=KEYFILE)`);
          return { url, publicKey: await readFile(keyFile, 'utf8') };
        }),
      );
      print(await pullImage({ stateDir: o.stateDir, tenant: o.tenant, ref, repos }));
    });
  cmd
    .command('resolve <ref>')
    .requiredOption('--repo <url>', 'repository (repeatable)', collect)
    .action(async (ref: string, o) => print(resolveImage(ref, await fetchIndexes(urls(o.repo), { policy: NODE_POLICY }))));
  cmd
    .command('outdated <container=image...>')
    .requiredOption('--repo <url>', 'repository (repeatable)', collect)
    .action(async (args: string[], o) =>
      print(outdated(args.map(parseContainerArg), await fetchIndexes(urls(o.repo), { policy: NODE_POLICY }))),
    );
  cmd
    .command('installed')
    .requiredOption('--state-dir <dir>')
    .requiredOption('--tenant <name>')
    .action(async (o) => print(await installedImages(tenantRoot(o.stateDir, o.tenant))));
  return cmd;
}

const urls = (repos: string[]) => repos.map((r) => parseRepoArg(r).url);

/** Runs one command line (`args` without node and script); returns the exit code. */
export async function runImageCli(args: string[], write?: Write, writeErr: Write = (t) => void process.stderr.write(t)): Promise<number> {
  try {
    await imageCommand(write).name('freight-image').exitOverride().parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (!code?.startsWith('commander.')) writeErr(isImageError(e) ? `error ${e.code}: ${e.message}\n` : `error: ${(e as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await runImageCli(process.argv.slice(2));
