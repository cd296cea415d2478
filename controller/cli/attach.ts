import type { Command } from 'commander';
import { enc, splitRef } from './client.js';
import { emit, type Io } from './output.js';

type Row = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const addressOn = (c: Row, network: string) => (c.endpoints as Row[]).find((e) => e.network === network);

/** `container attach|detach TENANT/NAME NETWORK`: docker network connect/disconnect, on a running container too. */
export function attachCommands(c: Command, io: () => Io): void {
  c.command('attach <tenant/name> <network>')
    .description('plug a network into a container (running: hot-plugged, address by DHCP), like docker network connect')
    .option('--ip <address>', 'a chosen address on the network (default: the lowest free one)')
    .option('--mac <mac>', 'a chosen MAC (default: derived from the network and the address)')
    .action(async (ref: string, network: string, o: { ip?: string; mac?: string }) => {
      const { tenant, name } = splitRef(ref);
      const body = { network, ...(o.ip ? { ip: o.ip } : {}), ...(o.mac ? { mac: o.mac } : {}) };
      const r = (await io().req('POST', `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}/networks`, body)) as Row;
      const e = addressOn(r, network);
      emit(io(), r, () => `container ${tenant}/${name} attached to network ${network}: ${e?.ip ?? '-'} ${e?.mac ?? ''}\n`);
    });
  c.command('detach <tenant/name> <network>')
    .description('unplug a network from a container, like docker network disconnect')
    .action(async (ref: string, network: string) => {
      const { tenant, name } = splitRef(ref);
      const r = (await io().req('DELETE', `/v1/tenants/${enc(tenant)}/containers/${enc(name!)}/networks/${enc(network)}`)) as Row;
      emit(io(), r, () => `container ${tenant}/${name} detached from network ${network}\n`);
    });
}
