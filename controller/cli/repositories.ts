import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CliError, enc, splitRef } from './client.js';
import { table } from './format.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What differs between a tenant's image repositories and its package repositories. */
export interface RepoKind {
  /** the REST collection under the tenant */
  path: 'image-repositories' | 'package-repositories';
  /** in messages: `image repository acme/main added` */
  noun: string;
  addDescription: string;
  allowHttpDescription: string;
}

/** `add <tenant> <name> <url> --key FILE [--allow-http]`, `list <tenant>`, `remove <tenant/name>` under `repo`. */
export function repositoryCommands(repo: Command, io: () => Io, kind: RepoKind): void {
  // the URL is positional: freightctl's own --url (the controller's) is recognised anywhere on the line
  repo
    .command('add <tenant> <name> <url>')
    .description(kind.addDescription)
    .requiredOption('--key <file>', 'ASCII-armoured OpenPGP public key file')
    .option('--allow-http', kind.allowHttpDescription)
    .action(async (tenant: string, name: string, url: string, o: Row) => {
      const publicKey = await readFile(o.key, 'utf8').catch((e: Error) => {
        throw new CliError('usage', `read key ${o.key}: ${e.message}`, 2);
      });
      const r = (await io().req('POST', `/v1/tenants/${enc(tenant)}/${kind.path}`, {
        name,
        url,
        publicKey,
        ...(o.allowHttp ? { allowHttp: true } : {}),
      })) as Row;
      emit(io(), r, () => `${kind.noun} ${tenant}/${r.name} added: ${r.url}\n`);
    });
  repo
    .command('list <tenant>')
    .description("list a tenant's repositories")
    .action(async (tenant: string) => {
      const items = ((await io().req('GET', `/v1/tenants/${enc(tenant)}/${kind.path}`)) as Row).items as Row[];
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
      await io().req('DELETE', `/v1/tenants/${enc(tenant)}/${kind.path}/${enc(name!)}`);
      emit(io(), { removed: ref }, () => `${kind.noun} ${ref} removed\n`);
    });
}
