import type { Capabilities } from '../../protocol/stream.js';

/** A node's capabilities for tests: vxlan, nftables and nspawn; `over` sets the rest. */
export const testCaps = (over: Partial<Capabilities> = {}): Capabilities => ({
  vxlan: true,
  geneve: false,
  esp: false,
  aead: false,
  nft: true,
  nspawn: true,
  vlan: false,
  physicalNetworks: {},
  details: {},
  ...over,
});
