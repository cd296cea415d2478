import type { Command } from 'commander';
import { enc, splitRef } from './client.js';
import { table } from './format.js';
import { emit, type Io } from './output.js';
import { repositoryCommands } from './repositories.js';

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
  repositoryCommands(repo, io, {
    path: 'package-repositories',
    noun: 'package repository',
    addDescription: 'compare TENANT’s containers’ components with the yum repository at URL, whose packages are signed with --key',
    allowHttpDescription: 'admin only: allow a plain http:// URL',
  });
}
