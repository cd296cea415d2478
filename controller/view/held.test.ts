import { describe, expect, it } from 'vitest';
import { applyOps, type NodeView } from '../../protocol/view.js';
import { applyRefresh, type Refresh } from './apply.js';
import { compileView } from './compile.js';
import { heldOf, heldView, liveOps, type HeldView } from './diff.js';
import { snapshotJson } from '../push/wire.js';
import { emptyState, type ClusterState, type ContainerRow, type EndpointRow, type NetworkRow, type NodeRow } from './state.js';

/**
 * Live deltas computed against a HeldView (no endpoints kept per connection) must bring every
 * agent exactly to the recompiled view, whatever a batch does: endpoints moving between nodes
 * and networks, networks appearing on and leaving nodes, routers joining networks, nodes moving.
 */

/** Deterministic PRNG (mulberry32): a failure names its seed and replays. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NODES = ['n1', 'n2', 'n3', 'n4'];
const NETS = ['a', 'b', 'c'];
const node = (id: string, ip: string): NodeRow => ({ id, name: id, underlayIp: ip, underlayMtu: 1500, ready: true, physicalMtus: {} });
const net = (id: string, router: string | null): NetworkRow => ({
  id,
  tenantId: 't',
  tenant: 't',
  name: id,
  type: 'vxlan',
  vni: 100 + NETS.indexOf(id),
  cidr: '10.0.0.0/24',
  gateway: null,
  mtu: null,
  domain: 'freight.internal',
  router: router ? { id: router, name: router, external: false, slot: 1 } : null,
  params: { type: 'vxlan', port: 4789 },
  dhcp: true,
});
const ct = (id: string, nodeId: string | null): ContainerRow => ({
  id,
  tenantId: 't',
  tenant: 't',
  name: id,
  kind: 'container',
  networkId: null,
  image: 'busybox',
  command: [],
  boot: false,
  restart: 'never',
  nodeId,
  desired: 'running',
  generation: 1,
  memory: 536870912,
  cpuMillis: null,
  pids: 1024,
  publish: [],
});
const ep = (id: string, networkId: string, ctId: string, nodeId: string | null, ip: string): EndpointRow => ({
  id,
  networkId,
  containerId: ctId,
  ifindex: 0,
  mac: `02:00:00:00:00:${ip.split('.')[3].padStart(2, '0')}`,
  ip,
  nodeId,
});

/** One random batch: a few endpoint moves, creates and deletes, sometimes a router change or a node's new underlay. */
function randomBatch(s: ClusterState, rand: () => number, k: number): Refresh {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const r: Required<Pick<Refresh, 'containers' | 'endpoints' | 'networks' | 'nodes'>> = {
    containers: [],
    endpoints: [],
    networks: [],
    nodes: [],
  };
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const existing = [...s.endpoints.values()];
    const roll = rand();
    if (roll < 0.35 || existing.length === 0) {
      const id = `e${k}-${i}`;
      const nodeId = rand() < 0.1 ? null : pick(NODES);
      r.containers.push([`c${k}-${i}`, ct(`c${k}-${i}`, nodeId)]);
      r.endpoints.push([id, ep(id, pick(NETS), `c${k}-${i}`, nodeId, `10.0.0.${10 + ((k * 4 + i) % 240)}`)]);
    } else if (roll < 0.6) {
      const e = pick(existing);
      const nodeId = rand() < 0.1 ? null : pick(NODES);
      r.containers.push([e.containerId, ct(e.containerId, nodeId)]);
      r.endpoints.push([e.id, { ...e, nodeId }]);
    } else if (roll < 0.75) {
      const e = pick(existing);
      r.endpoints.push([e.id, { ...e, networkId: pick(NETS) }]);
    } else if (roll < 0.88) {
      const e = pick(existing);
      r.endpoints.push([e.id, null]);
      r.containers.push([e.containerId, null]);
    } else if (roll < 0.95) {
      const id = pick(NETS);
      r.networks.push([id, net(id, rand() < 0.5 ? 'r1' : null)]);
    } else {
      const id = pick(NODES);
      r.nodes.push([id, node(id, `198.18.${k % 200}.${NODES.indexOf(id) + 1}`)]);
    }
  }
  return r;
}

// the view's own underlayIp is the agent's to know (its hello), not carried by ops
const strip = (v: NodeView) => ({ ...v, revision: 0, underlayIp: '' });

describe('live deltas against held views', () => {
  it('bring every agent to the recompiled view over random batches (30 seeds × 60 batches)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rand = rng(seed);
      const s = emptyState();
      applyRefresh(s, {
        nodes: NODES.map((id, i) => [id, node(id, `198.18.0.${i + 1}`)]),
        networks: NETS.map((id) => [id, net(id, null)]),
      });
      const agents = new Map<string, NodeView>(NODES.map((n) => [n, compileView(s, n, 0)]));
      const held = new Map<string, HeldView>(NODES.map((n) => [n, heldOf(compileView(s, n, 0))]));
      for (let k = 1; k <= 60; k++) {
        const fx = applyRefresh(s, randomBatch(s, rand, k));
        for (const n of NODES) {
          agents.set(n, applyOps(agents.get(n)!, liveOps(s, n, fx, held.get(n)!), k));
          const want = compileView(s, n, k);
          expect(strip(agents.get(n)!), `seed ${seed} batch ${k} node ${n}`).toEqual(strip(want));
          expect(heldOf(agents.get(n)!)).toEqual(heldOf(want));
          // the snapshot assembled from cached item JSON is the JSON.stringify of the view, byte for byte
          expect(snapshotJson(want, k)).toBe(JSON.stringify({ type: 'snapshot', revision: k, view: want }));
        }
      }
    }
  });

  it('heldView rebuilds the whole view from the model the agent was brought to', () => {
    const s = emptyState();
    applyRefresh(s, {
      nodes: NODES.map((id, i) => [id, node(id, `198.18.0.${i + 1}`)]),
      networks: NETS.map((id) => [id, net(id, id === 'c' ? null : 'r1')]),
      containers: [
        ['x', ct('x', 'n1')],
        ['y', ct('y', 'n2')],
        ['z', ct('z', 'n3')],
      ],
      endpoints: [
        ['ex', ep('ex', 'a', 'x', 'n1', '10.0.0.5')],
        ['ey', ep('ey', 'b', 'y', 'n2', '10.0.0.6')],
        ['ez', ep('ez', 'c', 'z', 'n3', '10.0.0.7')],
      ],
    });
    for (const n of NODES) {
      const v = compileView(s, n, 3);
      const h = heldView(s, heldOf(v), n, v.underlayIp, 3);
      expect({ ...h, networks: Object.keys(h.networks) }).toEqual({ ...v, networks: Object.keys(v.networks) });
    }
    // routed siblings: n1 hosts a, so it holds b's endpoint too, and nothing of c
    expect(Object.keys(compileView(s, 'n1', 3).endpoints).sort()).toEqual(['ex', 'ey']);
  });
});
