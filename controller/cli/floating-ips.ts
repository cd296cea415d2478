import type { Command } from 'commander';
import { enc, listAll, splitRef } from './client.js';
import { details, table } from './format.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * `freightctl floating-ip create|associate|disassociate|list|show|delete` (like `openstack floating
 * ip …`). A floating IP is named by its address (or id); its tenant comes from the container
 * (`associate`) or from `--tenant` (default: the token's tenant is not known here, so it is required
 * where no container names it).
 */
export function floatingIpCommands(program: Command, io: () => Io): void {
  const f = program.command('floating-ip').description('floating IPs: addresses of an external network, one-to-one NAT to a container');
  const base = (tenant: string) => `/v1/tenants/${enc(tenant)}/floating-ips`;
  const line = (x: Row) => `${x.ip} (${x.network})${x.container ? ` → ${x.tenant}/${x.container} on ${x.node ?? '(pending)'}` : ''}`;
  f.command('create <external-network>')
    .description('allocate an address of TENANT/NETWORK (an external network) to --tenant')
    .requiredOption('--tenant <tenant>', 'the tenant the address is allocated to')
    .option('--ip <ip>', 'this address of the pools (default: the lowest free one)')
    .action(async (network: string, o: Row) => {
      const x = (await io().req('POST', base(o.tenant), { network, ...(o.ip ? { ip: o.ip } : {}) })) as Row;
      emit(io(), x, () => `floating ip ${x.ip} allocated to ${x.tenant} from ${x.network}\n`);
    });
  f.command('associate <fip> <tenant/container>')
    .description('NAT the address one-to-one to a container on the external network')
    .action(async (fip: string, ref: string) => {
      const { tenant, name } = splitRef(ref);
      const x = (await io().req('POST', `${base(tenant)}/${enc(fip)}/associate`, { container: name })) as Row;
      emit(io(), x, () => `floating ip ${line(x)}\n`);
    });
  f.command('disassociate <fip>')
    .description('take the address off its container (it stays allocated to the tenant)')
    .requiredOption('--tenant <tenant>', 'the tenant holding the address')
    .action(async (fip: string, o: Row) => {
      const x = (await io().req('POST', `${base(o.tenant)}/${enc(fip)}/disassociate`)) as Row;
      emit(io(), x, () => `floating ip ${line(x)}\n`);
    });
  f.command('list <tenant>')
    .description("list a tenant's floating IPs")
    .action(async (tenant: string) => {
      const items = await listAll<Row>(io().req, base(tenant));
      emit(io(), items, () =>
        table(
          ['TENANT', 'IP', 'NETWORK', 'CONTAINER', 'NODE'],
          items.map((x) => [x.tenant, x.ip, x.network, x.container, x.node]),
        ),
      );
    });
  f.command('show <fip>')
    .description('show a floating IP and its container')
    .requiredOption('--tenant <tenant>', 'the tenant holding the address')
    .action(async (fip: string, o: Row) => {
      const x = (await io().req('GET', `${base(o.tenant)}/${enc(fip)}`)) as Row;
      emit(io(), x, () => details(x));
    });
  f.command('delete <fip>')
    .description('release a floating IP back to its network')
    .requiredOption('--tenant <tenant>', 'the tenant holding the address')
    .action(async (fip: string, o: Row) => {
      await io().req('DELETE', `${base(o.tenant)}/${enc(fip)}`);
      emit(io(), { deleted: fip }, () => `floating ip ${fip} released\n`);
    });
}
