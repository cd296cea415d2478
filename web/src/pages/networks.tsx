import type { Live } from '../live.js';
import { useLive } from '../live.js';
import { NetworkForm } from './forms.js';

/** The networks of the visible tenants, and the create form. */
export function NetworksPage({ live }: { live: Live }) {
  useLive(live);
  const count = new Map<string, number>();
  for (const c of live.state.containers.values())
    for (const e of c.endpoints) count.set(`${c.tenant}/${e.network}`, (count.get(`${c.tenant}/${e.network}`) ?? 0) + 1);
  const nets = [...live.state.networks.values()].sort((a, b) => `${a.tenant}/${a.name}`.localeCompare(`${b.tenant}/${b.name}`));
  return (
    <section>
      <h2>Networks</h2>
      <table class="grid" data-testid="networks">
        <thead>
          <tr>
            <th>tenant</th>
            <th>name</th>
            <th>type</th>
            <th>VNI</th>
            <th>CIDR</th>
            <th>gateway</th>
            <th>MTU</th>
            <th>infra</th>
            <th>containers</th>
          </tr>
        </thead>
        <tbody>
          {nets.map((n) => (
            <tr key={n.id} data-network={`${n.tenant}/${n.name}`}>
              <td>{n.tenant}</td>
              <td>{n.name}</td>
              <td>{n.type}</td>
              <td>{n.vni ?? '—'}</td>
              <td>{n.cidr}</td>
              <td>{n.gateway ?? '—'}</td>
              <td>{n.mtu ?? 'auto'}</td>
              <td>{n.infra ? `${n.infra.ip} on ${n.infra.node ?? '—'}` : '—'}</td>
              <td>{count.get(`${n.tenant}/${n.name}`) ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <NetworkForm live={live} />
    </section>
  );
}
