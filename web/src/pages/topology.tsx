import { useMemo, useState } from 'preact/hooks';
import type { Live } from '../live.js';
import { useLive } from '../live.js';
import type { Container, Network, Router } from '../model.js';
import { Details, type Selection } from './details.js';
import { NetworkForm, RunForm } from './forms.js';
import { matches } from './containers.js';
import { BAR_H, LEFT, W, layoutTenant, type Chip } from './topology-layout.js';

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#e15759'];

function nodeColors(live: Live): Map<string, string> {
  const names = new Set<string>();
  for (const n of live.state.nodes.values()) names.add(n.name);
  for (const c of live.state.containers.values()) if (c.node) names.add(c.node);
  for (const n of live.state.networks.values()) if (n.infra?.node) names.add(n.infra.node);
  return new Map([...names].sort().map((n, i) => [n, PALETTE[i % PALETTE.length]]));
}

function ChipView({ c, color, dim, onPick }: { c: Chip; color: string; dim: boolean; onPick: () => void }) {
  return (
    <g
      class={`chip ${c.infra ? 'infra' : ''} ${dim ? 'dim' : ''} st-${c.state}`}
      data-container={`${c.tenant}/${c.name}`}
      data-node={c.node ?? ''}
      onClick={onPick}
    >
      <title>{`${c.name} ${c.ip} on ${c.node ?? 'no node'} (${c.state})`}</title>
      <rect x={c.x} y={c.y} width={c.w} height={c.h} rx={5} fill={color} />
      <text x={c.x + 6} y={c.y + 15} class="chip-name">
        {c.name.length > 20 ? `${c.name.slice(0, 19)}…` : c.name}
      </text>
      <text x={c.x + 6} y={c.y + 30} class="chip-sub">
        {c.ip} · {c.node ?? '—'}
      </text>
    </g>
  );
}

function TenantDrawing(props: {
  tenant: string;
  networks: Network[];
  containers: Container[];
  routers: Router[];
  colors: Map<string, string>;
  q: string;
  onPick: (s: Selection) => void;
}) {
  const l = layoutTenant(props.networks, props.containers, props.routers);
  const byName = new Map(props.containers.map((c) => [c.name, c]));
  return (
    <svg class="topology" viewBox={`0 0 ${W} ${l.height}`} width={W} height={l.height} data-tenant={props.tenant}>
      {l.segments.map((s) => (
        <g key={s.network.id} class="segment" data-network={`${props.tenant}/${s.network.name}`}>
          <rect class="seg-area" x={LEFT} y={s.y} width={W - LEFT - 4} height={s.h} rx={6} />
          <rect class={`bar bar-${s.network.type}`} x={LEFT} y={s.y} width={W - LEFT - 4} height={BAR_H} rx={6} />
          <text x={LEFT + 10} y={s.y + 17} class="bar-label">
            {s.network.name} · {s.network.cidr} · {s.network.type}
            {s.network.vni !== null ? ` ${s.network.vni}` : ''} · {plural(s.chips.filter((c) => !c.infra).length + s.hidden, 'container')}
            {s.hidden ? ` (${s.hidden} not drawn: see Containers)` : ''}
          </text>
          {s.chips.map((c) => {
            const full = byName.get(c.name);
            const dim = !!props.q && !(full ? matches(full, props.q) : c.name.includes(props.q));
            return (
              <ChipView
                key={c.name}
                c={c}
                color={props.colors.get(c.node ?? '') ?? '#999'}
                dim={dim}
                onPick={() => props.onPick({ tenant: c.tenant, name: c.name })}
              />
            );
          })}
        </g>
      ))}
      {l.routers.map((r) => (
        <g key={r.router.name} class="router" data-router={`${props.tenant}/${r.router.name}`}>
          {r.links.map((k) => (
            <line key={k.y} x1={r.x + 18} y1={r.y} x2={LEFT} y2={k.y} class="router-link" />
          ))}
          <circle cx={r.x} cy={r.y} r={18} class={r.router.external ? 'router-ext' : 'router-int'} />
          <text x={r.x} y={r.y + 4} class="router-label">
            {r.router.name}
          </text>
          {r.router.external && (
            <text x={r.x} y={r.y + 32} class="router-sub">
              external
            </text>
          )}
        </g>
      ))}
    </svg>
  );
}

/** Per tenant: networks as segments with their containers (coloured by node), infra instances, routers. */
export function TopologyPage({ live }: { live: Live }) {
  const v = useLive(live);
  const [sel, setSel] = useState<Selection | null>(null);
  const [q, setQ] = useState('');
  const colors = useMemo(() => nodeColors(live), [v]);
  const tenants = [...live.state.tenants.values()].map((t) => t.name).sort();
  const nets = [...live.state.networks.values()];
  const cons = [...live.state.containers.values()];
  const routers = [...live.state.routers.values()];
  const readiness = new Map([...live.state.nodes.values()].map((n) => [n.name, n.ready]));
  return (
    <section class="with-details">
      <div class="main-col">
        <h2>Topology</h2>
        <div class="toolbar">
          <input type="search" class="search" placeholder="highlight…" value={q} onInput={(e) => setQ(e.currentTarget.value.trim())} />
          <span class="legend" data-testid="legend">
            {[...colors].map(([n, c]) => (
              <span key={n} class={`legend-node ${readiness.get(n) === false ? 'notready' : ''}`} data-node={n}>
                <svg width="12" height="12" class="swatch">
                  <rect width="12" height="12" rx="2" fill={c} />
                </svg>
                {n}
                {readiness.get(n) === false ? ' (NotReady)' : ''}
              </span>
            ))}
          </span>
        </div>
        {tenants.map((t) => (
          <div class="tenant" key={t} data-testid={`tenant-${t}`}>
            <h3>tenant {t}</h3>
            <TenantDrawing
              tenant={t}
              networks={nets.filter((n) => n.tenant === t)}
              containers={cons.filter((c) => c.tenant === t)}
              routers={routers.filter((r) => r.tenant === t)}
              colors={colors}
              q={q}
              onPick={setSel}
            />
          </div>
        ))}
        {tenants.length === 0 && <p class="empty">no tenants yet</p>}
        <div class="forms">
          <RunForm live={live} />
          <NetworkForm live={live} />
        </div>
      </div>
      {sel && <Details live={live} sel={sel} onClose={() => setSel(null)} />}
    </section>
  );
}
