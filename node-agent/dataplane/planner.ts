/**
 * Pure: plan(desired, actual) → ops. Immutable tunnel attributes (kind, VNI, local,
 * port, remote) are fixed at creation: a change is a delete and create, with the reason.
 * Everything else (MTU, master, up, port flags) is changed in place. Identical states
 * plan zero ops. Objects on a link that is deleted go with it: no separate delete; on a
 * recreated link they are re-added.
 */
import { planNft } from './nft-table.js';
import type { Op } from './ops.js';
import type { KernelState, LinkSpec } from './types.js';

export function plan(desired: KernelState, actual: KernelState): Op[] {
  const ops: Op[] = [];
  const gone = new Set<string>(); // links deleted by this plan (their FDB goes with them)
  planLinks(desired, actual, ops, gone);
  planPorts(desired, actual, ops);
  planUplinks(desired, actual, ops, gone);
  planLeaves(desired, actual, ops, gone);
  ops.push(...planNft(desired.nft, actual.nft ?? new Map()));
  return ops;
}

function immutableChange(d: LinkSpec, a: LinkSpec): string | undefined {
  if (d.kind !== a.kind) return `kind ${a.kind}→${d.kind}`;
  for (const k of ['vni', 'local', 'port', 'remote', 'vlan', 'parent'] as const) {
    if (d.kind !== 'bridge' && d[k] !== a[k]) return `${k} ${a[k] ?? 'none'}→${d[k] ?? 'none'}`;
  }
  return undefined;
}

function planLinks(desired: KernelState, actual: KernelState, ops: Op[], gone: Set<string>): void {
  for (const a of actual.links.values()) {
    const d = desired.links.get(a.name);
    if (!d) {
      ops.push({ kind: 'link.delete', name: a.name, linkKind: a.kind, reason: 'not in view' });
      gone.add(a.name);
      continue;
    }
    const why = immutableChange(d, a);
    if (why) {
      ops.push({ kind: 'link.delete', name: a.name, linkKind: a.kind, reason: why, network: d.network });
      ops.push({ kind: 'link.create', link: d, reason: why, network: d.network });
      gone.add(a.name);
    }
  }
  for (const d of desired.links.values()) {
    const a = actual.links.get(d.name);
    if (!a) {
      ops.push({ kind: 'link.create', link: d, reason: 'missing', network: d.network });
      gone.add(d.name);
      continue;
    }
    if (gone.has(d.name)) continue;
    const set: Extract<Op, { kind: 'link.set' }> = { kind: 'link.set', name: d.name, reason: 'drift', network: d.network };
    if (d.mtu !== a.mtu) set.mtu = d.mtu;
    if ((d.master ?? null) !== (a.master ?? null) || (d.master !== undefined && gone.has(d.master))) set.master = d.master ?? null;
    if (d.up !== a.up) set.up = d.up;
    if (set.mtu !== undefined || set.master !== undefined || set.up !== undefined) ops.push(set);
    if (d.kind !== 'bridge' && !portFlagsMatch(d, a)) ops.push(portFlags(d));
  }
  // a freshly created tunnel needs its port flags once enslaved
  for (const d of desired.links.values()) {
    if (d.kind !== 'bridge' && gone.has(d.name)) ops.push(portFlags(d));
  }
}

function portFlagsMatch(d: LinkSpec, a: LinkSpec): boolean {
  return d.learning === a.learning && d.neighSuppress === a.neighSuppress && (d.isolated ?? false) === (a.isolated ?? false);
}

function portFlags(d: LinkSpec): Op {
  const flags = { learning: d.learning ?? false, neighSuppress: d.neighSuppress ?? true, isolated: d.isolated ?? false };
  return { kind: 'port.flags', name: d.name, ...flags, reason: 'port flags', network: d.network };
}

/** Runtime-owned ports: only re-enslaved (never created, changed otherwise or deleted). */
function planPorts(desired: KernelState, actual: KernelState, ops: Op[]): void {
  for (const d of desired.ports.values()) {
    const a = actual.ports.get(d.name);
    if (a && a.master !== d.master) ops.push({ kind: 'link.set', name: d.name, master: d.master, reason: 'runtime port detached' });
  }
}

/**
 * Mapped interfaces: set up, and enslaved to their flat network's bridge (a bridge created by this
 * plan has a new ifindex: enslave again). Never created, deleted or detached: not ours.
 */
function planUplinks(desired: KernelState, actual: KernelState, ops: Op[], gone: Set<string>): void {
  for (const d of desired.uplinks.values()) {
    const a = actual.uplinks.get(d.name);
    if (!a) continue; // gone from the kernel: the ops on its bridge and sub-interfaces report it
    const set: Extract<Op, { kind: 'link.set' }> = { kind: 'link.set', name: d.name, reason: 'uplink', network: d.network };
    if (d.master !== undefined && (a.master !== d.master || gone.has(d.master))) set.master = d.master;
    if (d.up && !a.up) set.up = true;
    if (set.master !== undefined || set.up !== undefined) ops.push(set);
  }
}

function planLeaves(desired: KernelState, actual: KernelState, ops: Op[], gone: Set<string>): void {
  for (const [k, a] of actual.fdb)
    if (!desired.fdb.has(k) && !gone.has(a.dev)) ops.push({ kind: 'fdb.del', entry: a, reason: 'not in view' });
  for (const [k, a] of actual.neigh) {
    const d = desired.neigh.get(k);
    if (!d && !gone.has(a.dev)) ops.push({ kind: 'neigh.del', entry: a, reason: 'not in view' });
  }
  for (const [k, d] of desired.fdb)
    if (!actual.fdb.has(k) || gone.has(d.dev)) ops.push({ kind: 'fdb.add', entry: d, reason: 'missing', network: d.network });
  for (const [k, d] of desired.neigh) {
    const a = actual.neigh.get(k);
    if (!a || a.mac !== d.mac || gone.has(d.dev))
      ops.push({ kind: 'neigh.add', entry: d, reason: a ? `mac ${a.mac}→${d.mac}` : 'missing', network: d.network });
  }
  for (const [k, d] of desired.sas) if (!actual.sas.has(k)) ops.push({ kind: 'sa.add', sa: d, reason: 'missing', network: d.network });
  for (const [k, d] of desired.policies)
    if (!actual.policies.has(k)) ops.push({ kind: 'policy.add', policy: d, reason: 'missing', network: d.network });
  // make before break: a key rotation adds the new outbound SA (the kernel prefers the
  // newest matching state) before the old one goes, so no packet finds no SA
  for (const [k, a] of actual.policies) if (!desired.policies.has(k)) ops.push({ kind: 'policy.del', policy: a, reason: 'not in view' });
  for (const [k, a] of actual.sas) if (!desired.sas.has(k)) ops.push({ kind: 'sa.del', sa: a, reason: 'not in view' });
}
