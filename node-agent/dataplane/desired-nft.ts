/** Pure: the nft part of the desired state (anti-spoofing, ipsec guard) from the view. */
import type { NodeView } from '../../protocol/view.js';
import { ipsecGuardTable, spoofGuardTable, type GuardPort } from '../kernel/nft-rules.js';
import { hostVethName } from '../names.js';
import type { DesiredState, NodeFacts } from './types.js';
import { withSecurityGroups } from './desired-sg.js';

/** Every local endpoint's runtime port (containers and the infra container), as the runtime names it. */
export function guardPorts(view: NodeView): (GuardPort & { network: string })[] {
  const out: (GuardPort & { network: string })[] = [];
  for (const e of Object.values(view.endpoints)) {
    if (e.node !== view.node) continue;
    let ifname: string;
    try {
      ifname = hostVethName(e.owner, e.ifindex);
    } catch {
      continue; // the runtime cannot name (so cannot create) this port either
    }
    out.push({ ifname, mac: e.mac, ip: e.ip, dhcpServer: e.kind === 'infra', network: e.network });
  }
  return out;
}

/**
 * The ipsec guard covers every ipsec network in the view, even one this kernel cannot
 * carry: plaintext of an ipsec VNI must never pass, whatever else failed.
 */
export function ipsecGuard(view: NodeView, underlayIp: string): { peers: string[]; vnis: number[] } | undefined {
  const nets = Object.values(view.networks).filter((n) => n.type === 'ipsec');
  if (!nets.length) return undefined;
  const peers = new Set<string>();
  for (const n of nets) for (const ip of n.flood) if (ip !== underlayIp) peers.add(ip);
  for (const k of Object.values(view.keys)) if (nets.some((n) => n.id === k.network)) peers.add(k.peerIp);
  return { peers: [...peers], vnis: nets.map((n) => n.vni).filter((v): v is number => v !== null) };
}

export function addGuards(s: DesiredState, view: NodeView, facts: NodeFacts): void {
  const ports = guardPorts(view);
  const ipsec = ipsecGuard(view, facts.underlayIp);
  if (!facts.capabilities.nft) {
    // not fatal: the networks still carry traffic, unguarded, and the controller hears why
    const why = facts.capabilities.details.nft ?? 'nft not available';
    for (const id of [...new Set(ports.map((p) => p.network))].sort()) {
      s.networkErrors.push({ network: id, message: `anti-spoofing off on node ${facts.node}: ${why}` });
    }
    for (const n of Object.values(view.networks).filter((x) => x.type === 'ipsec')) {
      s.networkErrors.push({ network: n.id, message: `ipsec plaintext guard off on node ${facts.node}: ${why}` });
    }
    sgOff(s, view, facts, why);
    return;
  }
  if (ports.length) s.nft.set('bridge', spoofGuardTable(ports.map(({ network: _n, ...p }) => p)));
  const brnf = facts.capabilities.details.brNetfilter;
  if (brnf) sgOff(s, view, facts, brnf);
  const inet = brnf ? undefined : withSecurityGroups(ipsec ? ipsecGuardTable(ipsec.peers, ipsec.vnis) : undefined, view);
  const table = inet ?? (ipsec ? ipsecGuardTable(ipsec.peers, ipsec.vnis) : undefined);
  if (table) s.nft.set('inet', table);
}

/** Security groups cannot be enforced here: every network with a container under policy hears why. */
function sgOff(s: DesiredState, view: NodeView, facts: NodeFacts, why: string): void {
  const nets = new Set<string>();
  for (const e of Object.values(view.endpoints)) {
    if (e.node === view.node && view.containers[e.owner]?.securityGroups) nets.add(e.network);
  }
  for (const id of [...nets].sort()) s.networkErrors.push({ network: id, message: `security groups off on node ${facts.node}: ${why}` });
}
