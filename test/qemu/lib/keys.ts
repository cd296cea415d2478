/** IPsec keys for test views: what the controller would send each node, per peer and generation. TEST-ONLY keys. */
import type { NodeView, ViewKey } from '../../../protocol/view.js';
import type { Harness } from '../../netns/harness.js';

/** SPI of the SA from node `a` to node `b` (indices) in a generation: readable in `ip xfrm state`. */
export function spiOf(a: number, b: number, gen: number): number {
  return 0x10000 * gen + 0x100 * (a + 1) + (b + 1);
}

function keyOf(a: number, b: number, gen: number): string {
  return `${a}${b}${gen}f`.repeat(10);
}

/** Key entries of one generation for node `me` towards every other listed node. */
export function keysFor(h: Harness, network: string, me: number, nodes: number[], gen: number, phase: ViewKey['phase']): ViewKey[] {
  return nodes
    .filter((p) => p !== me)
    .map((p) => ({
      id: `${network}-${h.node(p).name}-g${gen}`,
      network,
      peer: h.node(p).name,
      peerIp: h.node(p).underlayIp,
      generation: gen,
      spiOut: spiOf(me, p, gen),
      spiIn: spiOf(p, me, gen),
      keyOut: keyOf(me, p, gen),
      keyIn: keyOf(p, me, gen),
      phase,
    }));
}

/** The view with its keys replaced. */
export function withKeys(view: NodeView, keys: ViewKey[], revision: number): NodeView {
  return { ...view, revision, keys: Object.fromEntries(keys.map((k) => [k.id, k])) };
}
