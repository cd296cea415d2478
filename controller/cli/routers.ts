import type { Command } from 'commander';
import { enc, listAll, splitRef, typed } from './client.js';
import { RouterResponse } from '../../protocol/responses.js';
import { details } from './format.js';
import { emit, emitList, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const nets = (r: Row) => (r.networks as Row[]).map((n) => `${n.name} ${n.gateway}`).join(', ') || '-';

/** `freightctl router create|attach|detach|set|list|show|delete` (like `openstack router …`). */
export function routerCommands(program: Command, io: () => Io): void {
  const r = program.command('router').description('tenant routers: routing between a tenant’s networks, egress');
  const path = (ref: string) => {
    const { tenant, name } = splitRef(ref);
    return `/v1/tenants/${enc(tenant)}/routers/${enc(name!)}`;
  };
  r.command('create <tenant/name>')
    .description('create a router (no networks attached yet)')
    .option('--external', 'egress: traffic leaving the tenant is source-NATed to the hosting node underlay address')
    .option('--external-network <tenant/network>', 'egress source-NATed to an address of this external physical network instead')
    .action(async (ref: string, o: Row) => {
      const { tenant, name } = splitRef(ref);
      const body = { name, external: Boolean(o.external), ...(o.externalNetwork ? { externalNetwork: o.externalNetwork } : {}) };
      const x = (await io().req('POST', `/v1/tenants/${enc(tenant)}/routers`, body)) as Row;
      emit(io(), x, () => `router ${tenant}/${x.name} created${x.external ? ' (external)' : ''}\n`);
    });
  r.command('set <tenant/name>')
    .description("change a router's egress")
    .option('--external', 'give the router egress')
    .option('--no-external', 'take egress away')
    .option('--external-network <tenant/network>', 'egress through this external physical network (implies --external)')
    .option('--no-external-network', 'egress through the node underlay address again')
    .action(async (ref: string, o: Row) => {
      const body = {
        ...(o.external === undefined ? {} : { external: Boolean(o.external) }),
        ...(o.externalNetwork === undefined ? {} : { externalNetwork: o.externalNetwork === false ? null : o.externalNetwork }),
      };
      const x = (await io().req('PATCH', path(ref), body)) as Row;
      emit(io(), x, () => `router ${ref}: external ${x.external}\n`);
    });
  r.command('attach <tenant/router> <network>')
    .description('attach a network: the router answers at its gateway')
    .action(async (ref: string, network: string) => {
      const x = (await io().req('POST', `${path(ref)}/attach`, { network })) as Row;
      const gw = (x.networks as Row[]).find((n) => n.name === network)?.gateway;
      emit(io(), x, () => `network ${network} attached to router ${ref} (gateway ${gw})\n`);
    });
  r.command('detach <tenant/router> <network>')
    .description('detach a network from the router')
    .action(async (ref: string, network: string) => {
      const x = (await io().req('POST', `${path(ref)}/detach`, { network })) as Row;
      emit(io(), x, () => `network ${network} detached from router ${ref}\n`);
    });
  r.command('list <tenant>')
    .description("list a tenant's routers")
    .action(async (tenant: string) => {
      const items = await listAll(io().req, `/v1/tenants/${enc(tenant)}/routers`, RouterResponse);
      emitList(io(), items, [
        { header: 'TENANT', get: (x) => x.tenant },
        { header: 'NAME', get: (x) => x.name },
        { header: 'EXTERNAL', get: (x) => x.external },
        { header: 'NETWORKS', get: nets },
        { header: 'CREATED', get: (x) => x.createdAt, wide: true },
      ]);
    });
  r.command('show <tenant/name>')
    .description('show a router and its networks')
    .action(async (ref: string) => {
      const x = typed(RouterResponse, await io().req('GET', path(ref)), `router ${ref}`);
      emit(io(), x, () => details({ ...x, networks: nets(x) }));
    });
  r.command('delete <tenant/name>')
    .description('delete a router with no networks attached')
    .action(async (ref: string) => {
      await io().req('DELETE', path(ref));
      emit(io(), { deleted: ref }, () => `router ${ref} deleted\n`);
    });
}
