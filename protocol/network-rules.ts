/**
 * The cross-field rules of a network create body, with field paths: the type of `params`
 * matches `type`; a physical network has params, pools and no VNI; pools lie inside the
 * CIDR's host range, do not cover the gateway and do not overlap. The database enforces
 * the same (schema.sql); these give the field path.
 */
import { hostRange, ip4ToInt } from './addr.js';
import type { AddressPool, NetworkParams } from './network-params.js';

export interface Issue {
  path: (string | number)[];
  message: string;
}

interface Body {
  type?: string;
  params?: NetworkParams;
  cidr: string;
  gateway?: string;
  vni?: number;
  pools?: AddressPool[];
  external?: boolean;
}

export function networkIssues(v: Body): Issue[] {
  const out: Issue[] = [];
  if (v.type && v.params && v.params.type !== v.type)
    out.push({ path: ['params', 'type'], message: `is ${v.params.type}, the network's type is ${v.type}` });
  const type = v.params?.type ?? v.type ?? 'vxlan';
  if (type === 'physical') {
    if (!v.params) out.push({ path: ['params'], message: 'required for a physical network: { type: physical, physicalNetwork: NAME }' });
    if (v.vni !== undefined) out.push({ path: ['vni'], message: 'a physical network has no VNI' });
    if (!v.pools)
      out.push({
        path: ['pools'],
        message: 'required for a physical network: the segment has hosts Freight does not own (e.g. 192.168.10.100-192.168.10.199)',
      });
  }
  if (v.external && type !== 'physical') out.push({ path: ['external'], message: 'only a physical network can be external' });
  out.push(...poolIssues(v.cidr, v.gateway, v.pools ?? []));
  return out;
}

/** Pools inside the host range, not covering the gateway, not overlapping, with room for the infra address and one more. */
export function poolIssues(cidr: string, gateway: string | undefined, pools: AddressPool[]): Issue[] {
  const out: Issue[] = [];
  let r: ReturnType<typeof hostRange>;
  try {
    r = hostRange(cidr);
  } catch {
    return out; // the cidr's own check reports it
  }
  const gw = gateway ? ip4ToInt(gateway) : undefined;
  const seen: Array<{ a: number; b: number; i: number }> = [];
  let size = 0;
  pools.forEach((p, i) => {
    const a = ip4ToInt(p.start);
    const b = ip4ToInt(p.end);
    if (a > b) return out.push({ path: ['pools', i, 'end'], message: `${p.end} is below the pool's start ${p.start}` });
    if (a < r.first || a > r.last) return out.push({ path: ['pools', i, 'start'], message: `${p.start} is not a host address of ${cidr}` });
    if (b < r.first || b > r.last) return out.push({ path: ['pools', i, 'end'], message: `${p.end} is not a host address of ${cidr}` });
    if (gw !== undefined && gw >= a && gw <= b)
      return out.push({ path: ['pools', i], message: `${p.start}-${p.end} contains the gateway ${gateway}` });
    const o = seen.find((s) => a <= s.b && s.a <= b);
    if (o) return out.push({ path: ['pools', i], message: `${p.start}-${p.end} overlaps pool ${o.i}` });
    seen.push({ a, b, i });
    size += b - a + 1;
  });
  if (pools.length && !out.length && size < 2)
    out.push({ path: ['pools'], message: 'the pools hold fewer than 2 addresses (the infra instance takes one)' });
  return out;
}
