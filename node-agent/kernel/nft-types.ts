/** The nft data the dataplane models and applies (kernel/nft.ts applies it, nft-text.ts renders it). */

export type NftFamily = 'bridge' | 'inet';
export type NftCommand = Record<string, unknown>;

/** A table as the dataplane models it; rules are identified by their comment. */
export interface NftRule {
  chain: string;
  /** identity of the rule: change it whenever expr changes */
  comment: string;
  expr: unknown[];
  /**
   * The rule in nft syntax (its body and comment), when its producer renders it straight from its
   * own input: tableText uses it instead of rendering expr. It must say exactly what expr says
   * (nft-sg.ts's rules: sg.test.ts compares the two for every kind of rule).
   */
  text?: string;
}

export interface NftSetDef {
  name: string;
  type: string | string[];
  /** canonical elements: concatenations joined with ' . ' */
  elems: string[];
  /** each element counts the packets that matched it (`counter` in the set declaration) */
  counter?: boolean;
  /** actual only: per-element counters (sets with `counter`), by canonical element */
  elemCounters?: Record<string, { packets: number; bytes: number }>;
}

export interface NftChainDef {
  name: string;
  hook?: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  prio?: number;
}

export interface NftTable {
  family: NftFamily;
  counters: string[];
  sets: NftSetDef[];
  chains: NftChainDef[];
  rules: NftRule[];
  /** actual only: counter values */
  counterValues?: Record<string, { packets: number; bytes: number }>;
}
