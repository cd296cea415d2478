/** Kernel state as the dataplane models it: desired (from the view) and actual (from dumps) share these shapes. */
import type { Capabilities } from '../../protocol/stream.js';
import type { NftFamily, NftTable } from '../kernel/nft.js';

export type TunnelKind = 'vxlan' | 'geneve';

export interface LinkSpec {
  name: string;
  kind: 'bridge' | TunnelKind | 'vlan';
  mtu: number;
  up: boolean;
  /** name of the bridge this link is enslaved to */
  master?: string;
  /** tunnels: immutable attributes (a change means delete and create); a bridge's vni gives its fixed MAC */
  vni?: number;
  local?: string;
  port?: number;
  remote?: string;
  /** tunnels: bridge port flags */
  learning?: boolean;
  neighSuppress?: boolean;
  /** vlan sub-interfaces: the 802.1Q ID and the parent link's name (immutable) */
  vlan?: number;
  parent?: string;
  /** per-peer geneve ports: no bridging between them (absent = off) */
  isolated?: boolean;
  /** network id, for error attribution (desired only) */
  network?: string;
}

export interface FdbSpec {
  dev: string;
  mac: string;
  table: 'self' | 'master';
  dst?: string;
  network?: string;
}

export interface NeighSpec {
  dev: string;
  ip: string;
  mac: string;
  network?: string;
}

export interface XfrmStateSpec {
  dir: 'in' | 'out';
  src: string;
  dst: string;
  spi: number;
  /** absent in actual state (the kernel does not dump keys back unless asked) */
  key?: string;
  network?: string;
}

export interface XfrmPolicySpec {
  dir: 'in' | 'out';
  src: string;
  dst: string;
  dport: number;
  network?: string;
}

/** A runtime-owned `frh-` link the runtime asked to have enslaved to a network's bridge. */
export interface PortSpec {
  name: string;
  master: string;
}

/**
 * A physical network's mapped interface (not ours: the operator names it): kept up, and enslaved
 * to the flat network's bridge when there is one (`master`); nothing else about it is changed.
 */
export interface UplinkSpec {
  name: string;
  master?: string;
  up: boolean;
  network?: string;
}

export interface KernelState {
  links: Map<string, LinkSpec>;
  /** runtime-owned ports (frh-…): only their master is managed */
  ports: Map<string, PortSpec>;
  /** mapped interfaces of physical networks (desired: those in use; actual: every mapped one) */
  uplinks: Map<string, UplinkSpec>;
  fdb: Map<string, FdbSpec>;
  neigh: Map<string, NeighSpec>;
  sas: Map<string, XfrmStateSpec>;
  policies: Map<string, XfrmPolicySpec>;
  /** the agent's nft tables (`bridge freight`, `inet freight`); absent family = no table */
  nft: Map<NftFamily, NftTable>;
}

export type { NetworkError } from '../../protocol/stream.js';
import type { NetworkError } from '../../protocol/stream.js';

export interface DesiredState extends KernelState {
  networkErrors: NetworkError[];
}

export interface NodeFacts {
  node: string;
  underlayIp: string;
  underlayMtu: number;
  capabilities: Capabilities;
}

/** The interface and its MTU this node maps a physical network to. */
export type PhysicalMappings = Capabilities['physicalNetworks'];

export const fdbKey = (f: FdbSpec): string => `${f.dev}|${f.table}|${f.mac}|${f.dst ?? ''}`;
export const neighKey = (n: NeighSpec): string => `${n.dev}|${n.ip}`;
export const saKey = (s: XfrmStateSpec): string => `${s.dir}|${s.spi}|${s.dst}`;
export const policyKey = (p: XfrmPolicySpec): string => `${p.dir}|${p.src}|${p.dst}|${p.dport}`;

export function emptyState(): KernelState {
  return {
    links: new Map(),
    ports: new Map(),
    uplinks: new Map(),
    fdb: new Map(),
    neigh: new Map(),
    sas: new Map(),
    policies: new Map(),
    nft: new Map(),
  };
}
