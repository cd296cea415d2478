import type { Live } from '../live.js';
import { useLive } from '../live.js';
import type { Node } from '../model.js';
import { age, useNow } from '../ui/clock.js';

/**
 * Capabilities as the agent reports them (`{vxlan: true, geneve: false, …, physicalNetworks: {NAME: {interface}}}`):
 * the true ones by name, then each physical network mapping.
 */
export function capabilityList(c: unknown): string {
  if (!c || typeof c !== 'object') return '';
  const o = c as Record<string, unknown>;
  const flags = Object.entries(o)
    .filter(([, v]) => v === true)
    .map(([k]) => k)
    .sort();
  const phys =
    o.physicalNetworks && typeof o.physicalNetworks === 'object' ? (o.physicalNetworks as Record<string, { interface?: string }>) : {};
  return [...flags, ...Object.entries(phys).map(([k, v]) => `${k}=${v?.interface ?? '?'}`)].join(' ');
}

/** Nodes (admin): readiness, revisions and lag, capabilities, containers per node; NotReady rows are red. */
export function NodesPage({ live }: { live: Live }) {
  useLive(live);
  const now = useNow();
  const perNode = new Map<string, number>();
  for (const c of live.state.containers.values()) if (c.node) perNode.set(c.node, (perNode.get(c.node) ?? 0) + 1);
  const nodes = [...live.state.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section>
      <h2>Nodes</h2>
      <table class="grid nodes" data-testid="nodes">
        <thead>
          <tr>
            <th>node</th>
            <th>state</th>
            <th>underlay (VTEP)</th>
            <th>last seen</th>
            <th>desired</th>
            <th>applied</th>
            <th>lag</th>
            <th>containers</th>
            <th>capabilities</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n: Node) => (
            <tr key={n.id} class={n.ready ? 'ready' : 'notready'} data-node={n.name} data-ready={String(n.ready)}>
              <td>{n.name}</td>
              <td class="state">{n.ready ? 'Ready' : 'NotReady'}</td>
              <td>{n.underlayIp}</td>
              <td>{age(n.lastSeen, now)}</td>
              <td>{n.desiredRevision}</td>
              <td>{n.appliedRevision}</td>
              <td class={n.lag > 0 ? 'lagging' : ''}>{n.lag}</td>
              <td>{perNode.get(n.name) ?? n.containers}</td>
              <td class="caps">{capabilityList(n.capabilities)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {nodes.length === 0 && <p class="empty">no nodes: create one with `freightctl token create --node NAME`</p>}
    </section>
  );
}
