import type { Container, Network, Router } from '../model.js';

/** Geometry of one tenant's topology drawing, computed apart from rendering (pure; unit-tested). */
export const W = 1100;
const LEFT = 190;
const CHIP_W = 148;
const CHIP_H = 38;
const GAP = 8;
const BAR_H = 26;
const SEG_PAD = 10;

export interface Chip {
  x: number;
  y: number;
  w: number;
  h: number;
  tenant: string;
  name: string;
  node: string | null;
  ip: string;
  state: string;
  infra: boolean;
}
export interface Segment {
  network: Network;
  y: number;
  h: number;
  chips: Chip[];
  /** Containers of the network not drawn (past MAX_CHIPS): the Containers page lists them. */
  hidden: number;
}

/** Chips drawn per network: a drawing stays readable (and cheap) however large the network. */
export const MAX_CHIPS = 240;
export interface RouterBox {
  router: Router;
  x: number;
  y: number;
  links: Array<{ y: number; gateway: string | null }>;
}
export interface Layout {
  height: number;
  segments: Segment[];
  routers: RouterBox[];
}

/** Names in human order (c2 before c10): the drawing holds a few hundred objects at most. */
const byName = new Intl.Collator('en', { numeric: true }).compare;

const cols = Math.max(1, Math.floor((W - LEFT - SEG_PAD) / (CHIP_W + GAP)));

/** Networks stacked top to bottom, each a bar with its containers in a grid below it; routers on the left. */
export function layoutTenant(networks: Network[], containers: Container[], routers: Router[]): Layout {
  const segments: Segment[] = [];
  let y = 10;
  for (const n of [...networks].sort((a, b) => byName(a.name, b.name))) {
    const members = containers
      .filter((c) => c.kind === 'container' && c.endpoints.some((e) => e.network === n.name))
      .sort((a, b) => byName(a.name, b.name));
    const chips: Chip[] = [];
    const put = (i: number, c: Omit<Chip, 'x' | 'y' | 'w' | 'h'>) =>
      chips.push({
        ...c,
        x: LEFT + SEG_PAD + (i % cols) * (CHIP_W + GAP),
        y: y + BAR_H + SEG_PAD + Math.floor(i / cols) * (CHIP_H + GAP),
        w: CHIP_W,
        h: CHIP_H,
      });
    let i = 0;
    if (n.infra) put(i++, { tenant: n.tenant, name: n.infra.name, node: n.infra.node, ip: n.infra.ip, state: 'infra', infra: true });
    for (const c of members.slice(0, MAX_CHIPS)) {
      const ip = c.endpoints.find((e) => e.network === n.name)?.ip ?? '';
      put(i++, { tenant: c.tenant, name: c.name, node: c.node, ip, state: c.observedState, infra: false });
    }
    const rows = Math.max(1, Math.ceil(i / cols));
    const h = BAR_H + SEG_PAD * 2 + rows * (CHIP_H + GAP) - GAP;
    segments.push({ network: n, y, h, chips, hidden: Math.max(0, members.length - MAX_CHIPS) });
    y += h + 24;
  }
  const routerBoxes = [...routers]
    .sort((a, b) => byName(a.name, b.name))
    .map((r, i) => ({
      router: r,
      x: 60,
      y: 30 + i * 70,
      links: r.networks
        .map((a) => ({ seg: segments.find((s) => s.network.name === a.name), gateway: a.gateway }))
        .filter((l) => l.seg)
        .map((l) => ({ y: l.seg!.y + BAR_H / 2, gateway: l.gateway })),
    }));
  const height = Math.max(y, 30 + routerBoxes.length * 70) + 10;
  return { height, segments, routers: routerBoxes };
}

export { LEFT, BAR_H };
