import type { Queryable } from './db.js';
import { NETWORK_PARAMS_MUTABLE, NetworkSettings, type NetworkPatch } from '../../protocol/patch.js';
import { ApiError } from '../errors.js';
import { canonical, mergeSettings } from '../api/patch.js';
import { checkDhcpOptions } from '../dhcp-options.js';
import { getNetwork, paramsOf, type Network } from './networks.js';
import type { Tenant } from './tenants.js';
import type { NetworkParams } from '../../protocol/network-params.js';

interface Row {
  id: string;
  name: string;
  type: string;
  vni: number | null;
  cidr: string;
  gateway: string | null;
  mtu: number | null;
  domain: string;
  dhcp: boolean;
  tunnel_port: number | null;
  rotate_hours: number | null;
  physical_network: string | null;
  vlan: number | null;
  pools: Array<{ start: string; end: string }> | null;
  description: string | null;
  labels: Record<string, string>;
  dhcp_options: Record<string, unknown>;
  dns_upstreams: string[] | null;
}

/**
 * PATCH of a network: merges the patch into its settings under the row lock and writes them in one
 * UPDATE. The change-log trigger records it, so every node hosting the network gets the new view
 * item through the push (mtu, domain, DHCP options, upstreams; labels and description change no
 * view item). Of the per-type parameters only what is safe to change in place may change.
 */
export async function patchNetwork(q: Queryable, t: Tenant, name: string, patch: NetworkPatch, op: string): Promise<Network> {
  const { rows } = await q.query<Row>(
    `SELECT n.id, n.name, n.type, n.vni, n.cidr::text AS cidr, host(n.gateway) AS gateway, n.mtu, n.domain, n.dhcp, n.tunnel_port,
            n.rotate_hours, n.physical_network, n.vlan, n.description, n.labels, n.dhcp_options, n.dns_upstreams,
            (SELECT json_agg(json_build_object('start', host(p.first_ip), 'end', host(p.last_ip)) ORDER BY p.first_ip)
               FROM network_pools p WHERE p.network_id = n.id) AS pools
       FROM networks n WHERE n.tenant_id = $1 AND n.name = $2 FOR UPDATE OF n`,
    [t.id, name],
  );
  const r = rows[0];
  if (!r) throw new ApiError('network_not_found', `${op}: network ${name} not found in tenant ${t.name}`);
  const params = paramsOf(r);
  const current = {
    mtu: r.mtu,
    domain: r.domain,
    description: r.description,
    labels: r.labels,
    dhcpOptions: r.dhcp_options,
    dnsUpstreams: r.dns_upstreams,
    params,
  };
  const fixed = {
    name: r.name,
    type: r.type,
    vni: r.vni === null ? null : Number(r.vni),
    cidr: r.cidr,
    gateway: r.gateway,
    pools: r.pools ?? [],
    dhcp: r.dhcp,
  };
  const { settings: s, changed } = mergeSettings(NetworkSettings, current, fixed, patch, op);
  if (changed.length === 0) return getNetwork(q, t, name, op);
  checkFixedParams(params, s.params, op);
  checkDhcpOptions(r.cidr, s.dhcpOptions, op);
  await q.query(
    `UPDATE networks SET mtu = $2, domain = $3, description = $4, labels = $5::jsonb, dhcp_options = $6::jsonb,
            dns_upstreams = $7::text[], rotate_hours = $8, updated_at = now()
      WHERE id = $1`,
    [
      r.id,
      s.mtu ?? null,
      s.domain,
      s.description ?? null,
      JSON.stringify(s.labels),
      JSON.stringify(s.dhcpOptions),
      s.dnsUpstreams ?? null,
      s.params.type === 'ipsec' ? (s.params.rotateHours ?? null) : null,
    ],
  );
  return getNetwork(q, t, name, op);
}

/** 409 immutable_field naming `params.<field>` for a parameter that cannot change in place. */
function checkFixedParams(before: NetworkParams, after: NetworkParams, op: string): void {
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if ((NETWORK_PARAMS_MUTABLE as readonly string[]).includes(k) || canonical(a[k]) === canonical(b[k])) continue;
    throw new ApiError('immutable_field', `${op}: params.${k} cannot change in place (it is ${canonical(a[k])})`, `params.${k}`);
  }
}
