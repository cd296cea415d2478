/**
 * Capability probe: tries to create throw-away objects in the agent's namespace and
 * deletes them (vxlan/geneve link `frp-probe`, an ESP SA with a test key, nft).
 */
import { ensureBridgeNetfilter } from './br-netfilter.js';
import { spawnSync } from 'node:child_process';
import type { Capabilities } from '../../protocol/stream.js';
import { GENEVE_PORT, PROBE_LINK, VXLAN_PORT } from '../names.js';
import { delLinkMsg, ifindexOf, newLinkMsg } from './link.js';
import { NetlinkGateway } from './netlink.js';
import { vxlanData } from './vxlan.js';
import type { PhysicalMappings } from './uplink.js';
import { createVlanMsg } from './vlan.js';
import { geneveData } from './geneve.js';
import { delSaMsg, newSaMsg } from './xfrm.js';

const PROBE_SA = { src: '198.18.255.254', dst: '198.18.255.253', spi: 0xfe00fe00, key: '00'.repeat(20), reqid: 0, dport: VXLAN_PORT };

async function tryLink(gw: NetlinkGateway, kind: 'vxlan' | 'geneve'): Promise<string | undefined> {
  const stale = await ifindexOf(gw, PROBE_LINK);
  if (stale !== undefined) await gw.request(delLinkMsg(stale, PROBE_LINK));
  const data =
    kind === 'vxlan'
      ? vxlanData({ vni: 16777214, local: '198.18.255.254', port: VXLAN_PORT })
      : geneveData({ vni: 16777214, port: GENEVE_PORT, remote: '198.18.255.253' });
  try {
    await gw.request(newLinkMsg({ ifname: PROBE_LINK, kind, data }));
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const idx = await ifindexOf(gw, PROBE_LINK);
  if (idx !== undefined) await gw.request(delLinkMsg(idx, PROBE_LINK, kind));
  return undefined;
}

async function tryEsp(): Promise<string | undefined> {
  let x: NetlinkGateway | undefined;
  try {
    x = NetlinkGateway.open('xfrm');
    await x.request(newSaMsg(PROBE_SA));
    await x.request(delSaMsg(PROBE_SA));
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    x?.close();
  }
}

function tryNft(): string | undefined {
  const r = spawnSync('nft', ['-j', 'list', 'tables'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `nft: ${r.error.message}`;
  return r.status === 0 ? undefined : `nft exit ${r.status}: ${r.stderr.trim()}`;
}

function tryNspawn(): string | undefined {
  const r = spawnSync('systemd-nspawn', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? undefined : 'systemd-nspawn not installed';
}

/** A throw-away VLAN sub-interface on a mapped interface (the only parent an agent may use). */
async function tryVlan(gw: NetlinkGateway, parent: string | undefined): Promise<string | undefined> {
  if (!parent) return 'no physical network mapped';
  const stale = await ifindexOf(gw, PROBE_LINK);
  if (stale !== undefined) await gw.request(delLinkMsg(stale, PROBE_LINK));
  const index = await ifindexOf(gw, parent);
  if (index === undefined) return `no interface ${parent}`;
  try {
    await gw.request(createVlanMsg({ name: PROBE_LINK, parent: index, vlan: 4094, mtu: 0 }));
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    return m.includes('EOPNOTSUPP') ? 'module 8021q not available' : m;
  }
  const idx = await ifindexOf(gw, PROBE_LINK);
  if (idx !== undefined) await gw.request(delLinkMsg(idx, PROBE_LINK, 'vlan'));
  return undefined;
}

/** Probes what this kernel/host supports; `details` says why something is missing. `physical`: the checked mappings. */
export async function probeCapabilities(gw: NetlinkGateway, physical: PhysicalMappings = {}): Promise<Capabilities> {
  const details: Record<string, string> = {};
  const vx = await tryLink(gw, 'vxlan');
  if (vx) details.vxlan = vx;
  const gn = await tryLink(gw, 'geneve');
  if (gn) details.geneve = gn.includes('EOPNOTSUPP') ? 'module not available' : gn;
  const esp = await tryEsp();
  if (esp) {
    // one SA carries both: the kernel refuses ESP (ENOSYS/EPROTONOSUPPORT) or the AEAD transform (ENOENT)
    details.esp = esp;
    details.aead = `rfc4106(gcm(aes)) not usable: ${esp}`;
  }
  const nft = tryNft();
  if (nft) details.nft = nft;
  // security groups need bridged IPv4 in the inet hooks: details.brNetfilter says why not (node-agent/dataplane/desired-sg.ts)
  const brnf = ensureBridgeNetfilter();
  if (brnf) details.brNetfilter = brnf;
  const nspawn = tryNspawn();
  if (nspawn) details.nspawn = nspawn;
  const vlan = await tryVlan(gw, Object.values(physical)[0]?.interface);
  if (vlan) details.vlan = vlan;
  return { vxlan: !vx, geneve: !gn, esp: !esp, aead: !esp, nft: !nft, nspawn: !nspawn, vlan: !vlan, physicalNetworks: physical, details };
}
