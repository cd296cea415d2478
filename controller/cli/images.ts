import type { Command } from 'commander';
import { buildImage } from '../../images/build.js';
import { buildInput, withBuildOptions, type BuildOptions } from '../../images/cli-args.js';
import { isImageError } from '../../images/errors.js';
import { publishRepo } from '../../images/publish.js';
import { signRpms } from '../../images/sign.js';
import { rebuildImage, type RepoEntry } from '../../images/rebuild.js';
import { STRICT_POLICY } from '../../images/repo-client.js';
import { CliError, enc, listAll, splitRef } from './client.js';
import { table } from './format.js';
import { emit, type Io } from './output.js';
import { repositoryCommands } from './repositories.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Local tooling errors carry the image catalogue's code, like API errors carry theirs. */
async function local<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isImageError(e)) throw new CliError(e.code, e.message, 1);
    throw e;
  }
}

/**
 * `freightctl image …`: build, sign and publish run locally (rpmbuild, rpmsign, createrepo_c),
 * `repo` and `outdated` talk to the controller.
 */
export function imageCommands(program: Command, io: () => Io): void {
  const img = program.command('image').description('container images as signed RPMs (docs/images.md)');
  withBuildOptions(
    img
      .command('build <name>')
      .description('build an image RPM locally (no controller involved, except --from-image: the tenant’s repositories)')
      .option('--from-image <name:version>', 'start from this image version of the tenant’s repositories (downloaded and verified here)')
      .option('--update', 'with --from-image: update the components that have newer signed versions in the tenant’s package repositories')
      .option('--tenant <tenant>', 'with --from-image: whose repositories'),
  ).action(async (name: string, o: Row) => {
    if (o.fromImage) {
      const r = await rebuildCommand(io(), name, o);
      emit(io(), r, () => `${r.rpm}\n${r.updated.map((u) => `updated ${u.name} ${u.from} → ${u.to} (${u.repository})\n`).join('')}`);
      return;
    }
    const r = await local(() => buildImage(buildInput(name, o as BuildOptions)));
    emit(io(), r, () => `${r.rpm}\n`);
  });
  img
    .command('sign <rpm...>')
    .description('sign image RPMs in place with rpmsign')
    .requiredOption('--key-id <id>', 'gpg key id, fingerprint or user id')
    .option('--gnupg-home <dir>', 'GnuPG home holding the secret key', process.env.GNUPGHOME ?? `${process.env.HOME}/.gnupg`)
    .action(async (rpms: string[], o: Row) => {
      await local(() => signRpms(rpms, { keyId: o.keyId, gnupgHome: o.gnupgHome }));
      emit(io(), { signed: rpms }, () => rpms.map((r) => `signed ${r}\n`).join(''));
    });
  img
    .command('publish <dir> [rpm...]')
    .description('copy RPMs into a repository directory and rebuild its metadata (createrepo_c); with --key-id, sign repomd.xml')
    .option(
      '--key-id <id>',
      'sign repodata/repomd.xml (repomd.xml.asc) with this gpg key: the controller and nodes then refuse altered metadata',
    )
    .option('--gnupg-home <dir>', 'GnuPG home holding the secret key', process.env.GNUPGHOME ?? `${process.env.HOME}/.gnupg`)
    .action(async (dir: string, rpms: string[], o: Row) => {
      await local(() => publishRepo(dir, rpms, o.keyId ? { keyId: o.keyId, gnupgHome: o.gnupgHome } : undefined));
      emit(io(), { published: dir, rpms }, () => `published ${dir}\n`);
    });
  img
    .command('outdated [tenant]')
    .description('containers whose RPM image has a newer version in their repositories')
    .action(async (tenant?: string) => {
      const tenants = tenant ? [tenant] : (await listAll<Row>(io().req, '/v1/tenants')).map((t) => t.name as string);
      const items: Row[] = [];
      for (const t of tenants) items.push(...((await io().req('GET', `/v1/tenants/${enc(t)}/images/outdated`)) as Row).items);
      emit(io(), items, () =>
        table(
          ['TENANT', 'CONTAINER', 'IMAGE', 'CURRENT', 'NEWEST'],
          items.map((x) => [x.tenant, x.container, x.name, x.current, x.newest]),
        ),
      );
    });
  repoCommands(img, io);
}

/** `image build --from-image`: the tenant's repositories from the controller, everything else here. */
async function rebuildCommand(io: Io, name: string, o: Row) {
  if (!o.tenant) throw new CliError('usage', 'image build --from-image: give --tenant (whose repositories hold the image)', 2);
  if (o.from || o.packages) throw new CliError('usage', 'image build: --from-image excludes --from and --packages', 2);
  const list = async (kind: string) => ((await io.req('GET', `/v1/tenants/${enc(o.tenant)}/${kind}`)) as Row).items as RepoEntry[];
  const [imageRepos, packageRepos] = [await list('image-repositories'), await list('package-repositories')];
  const allowCidrs = (process.env.FREIGHT_REPO_ALLOW_CIDR ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const m = buildInput(name, { ...(o as BuildOptions), from: '.' }).manifest;
  return local(() =>
    rebuildImage(name, {
      version: o.version,
      fromImage: o.fromImage,
      update: o.update === true,
      imageRepos,
      packageRepos,
      policy: { ...STRICT_POLICY, address: { allowCidrs } },
      outDir: o.out,
      overrides: {
        ...(o.command ? { command: m.command } : {}),
        ...(o.env ? { env: m.env } : {}),
        ...(o.port ? { ports: m.ports } : {}),
      },
    }),
  );
}

function repoCommands(img: Command, io: () => Io): void {
  repositoryCommands(img.command('repo').description("a tenant's image repositories (yum URL + signing public key)"), io, {
    path: 'image-repositories',
    noun: 'image repository',
    addDescription: 'let TENANT pull images from the yum repository at URL, signed with the key in --key',
    allowHttpDescription: 'admin only: allow a plain http:// URL (no TLS: metadata can be replayed or altered on the way)',
  });
}

/** `freightctl container upgrade TENANT/NAME [--version V]`, added to the existing `container` command. */
export function upgradeCommand(program: Command, io: () => Io): void {
  const container = program.commands.find((c) => c.name() === 'container');
  if (!container) throw new Error('freightctl: the container command must be registered before upgrade');
  container
    .command('upgrade <tenant/name>')
    .description('run the container on another version of its RPM image (newest by default); addresses are kept')
    .option('--version <v>', 'image version')
    .action(async (ref: string, o: Row) => {
      const { tenant, name } = splitRef(ref);
      const r = (await io().req(
        'POST',
        `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}/upgrade`,
        o.version ? { version: o.version } : {},
      )) as Row;
      emit(io(), r, () => `container ${tenant}/${r.name}: image ${r.image}\n`);
    });
}
