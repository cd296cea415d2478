/**
 * Pure: multi-peer geneve. The geneve driver has no per-destination FDB (one device, one
 * remote), so a network gets one device per remote peer, each a port of the network's
 * bridge: learning off, neigh_suppress on, and `isolated` on — isolated ports never
 * forward to each other, so a broadcast from one peer is not relayed to the others
 * (split horizon; without it, three nodes would loop broadcasts). Known remote MACs get
 * static `master` FDB entries on the port of the peer hosting them; unknown and
 * broadcast frames flood to every peer port (head-end replication by the bridge).
 */
import type { NodeView, ViewNetwork } from '../../protocol/view.js';
import { GENEVE_PORT, geneveName } from '../names.js';
import type { DesiredState, NodeFacts } from './types.js';

/** The remote peers of a geneve network: its flood list and the VTEPs of its remote endpoints. */
export function genevePeers(n: ViewNetwork, view: NodeView, f: NodeFacts): string[] {
  const peers = new Set(n.flood);
  for (const e of Object.values(view.endpoints)) if (e.network === n.id && e.node !== view.node) peers.add(e.vtep);
  peers.delete(f.underlayIp);
  return [...peers].sort();
}

export function addGeneve(s: DesiredState, n: ViewNetwork & { vni: number }, view: NodeView, f: NodeFacts, bridge: string): void {
  const port = n.params?.type === 'geneve' ? n.params.port : GENEVE_PORT;
  const owner = new Map<string, string>();
  for (const peer of genevePeers(n, view, f)) {
    const name = geneveName(n.vni, peer);
    const other = owner.get(name);
    if (other) {
      const message =
        `geneve network ${n.tenant}/${n.name} (vni ${n.vni}): ` +
        `peers ${other} and ${peer} share device name ${name}; ${peer} is unreachable`;
      s.networkErrors.push({ network: n.id, message });
      continue;
    }
    owner.set(name, peer);
    s.links.set(name, {
      name,
      kind: 'geneve',
      mtu: n.mtu,
      up: true,
      master: bridge,
      vni: n.vni,
      port,
      remote: peer,
      learning: false,
      neighSuppress: true,
      isolated: true,
      network: n.id,
    });
  }
}
