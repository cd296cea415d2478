import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CliError, enc, splitRef } from './client.js';
import { table } from './format.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const evr = (p: Row) => `${p.epoch ? `${p.epoch}:` : ''}${p.version}-${p.release}`;

/** `container packages|outdated`, added to the existing `container` command. */
export function componentCommands(program: Command, io: () => Io): void {
  const container = program.commands.find((c) => c.name() === 'container');
  if (!container) throw new Error('freightctl: the container command must be registered before packages');
  container
    .command('packages <tenant/name>')
    .description("the packages of the container's root as its own rpm database records them (read on its node)")
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref);
      const r = (await io().req('GET', `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}/packages`)) as Row;
      emit(io(), r, () => {
        const t = table(
          ['NAME', 'VERSION', 'ARCH', 'KEY'],
          (r.items as Row[]).map((p) => [p.name, evr(p), p.arch, p.key ?? '(unsigned)']),
        );
        const notes = [r.invalid ? `${r.invalid} malformed records skipped\n` : '', r.truncated ? 'list truncated\n' : ''].join('');
        return t + notes;
      });
    });
  container
    .command('outdated <tenant/name>')
    .description("the container's components with newer versions in the tenant's package and image repositories")
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref);
      const r = (await io().req('GET', `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}/outdated`)) as Row;
      const items = r.items as Row[];
      emit(io(), items, () =>
        table(
          ['NAME', 'ARCH', 'CURRENT', 'NEWEST', 'REPOSITORY', 'TRUSTED', 'IN IMAGE'],
          items.map((u) => [u.name, u.arch, u.current, u.newest, u.repository, u.trusted ? 'yes' : `no: ${u.reason}`, u.image ?? '-']),
        ),
      );
    });
}

/** `freightctl package-repo add|list|remove`: ordinary yum repositories (a distribution mirror) components are compared with. */
export function packageRepoCommands(program: Command, io: () => Io): void {
  const repo = program
    .command('package-repo')
    .description("a tenant's package repositories (yum URL + the key its packages are signed with), for `container outdated`");
  repo
    .command('add <tenant> <name> <url>')
    .description('compare TENANT’s containers’ components with the yum repository at URL, whose packages are signed with --key')
    .requiredOption('--key <file>', 'ASCII-armoured OpenPGP public key file')
    .option('--allow-http', 'admin only: allow a plain http:// URL')
    .action(async (tenant: string, name: string, url: string, o: Row) => {
      const publicKey = await readFile(o.key, 'utf8').catch((e: Error) => {
        throw new CliError('usage', `read key ${o.key}: ${e.message}`, 2);
      });
      const r = (await io().req('POST', `/v1/tenants/${enc(tenant)}/package-repositories`, {
        name,
        url,
        publicKey,
        ...(o.allowHttp ? { allowHttp: true } : {}),
      })) as Row;
      emit(io(), r, () => `package repository ${tenant}/${r.name} added: ${r.url}\n`);
    });
  repo
    .command('list <tenant>')
    .description("list a tenant's repositories")
    .action(async (tenant: string) => {
      const items = ((await io().req('GET', `/v1/tenants/${enc(tenant)}/package-repositories`)) as Row).items as Row[];
      emit(io(), items, () =>
        table(
          ['TENANT', 'NAME', 'URL', 'HTTP', 'SIGNED', 'CREATED'],
          items.map((x) => [x.tenant, x.name, x.url, x.allowHttp ? 'allowed' : '-', x.metadata?.signed ? 'yes' : '-', x.createdAt]),
        ),
      );
    });
  repo
    .command('remove <tenant/name>')
    .description('remove a repository (images already pulled stay)')
    .action(async (ref: string) => {
      const { tenant, name } = splitRef(ref);
      await io().req('DELETE', `/v1/tenants/${enc(tenant)}/package-repositories/${enc(name!)}`);
      emit(io(), { removed: ref }, () => `package repository ${ref} removed\n`);
    });
}
