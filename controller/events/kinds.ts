import type { Queryable } from '../store/db.js';
import { containersByIds } from '../store/containers.js';
import { endpointsByIds } from '../store/endpoints.js';
import { networksByIds } from '../store/networks.js';
import { nodesByIds } from '../store/nodes.js';
import { tenantsByIds } from '../store/tenants.js';
import { routersByIds } from '../store/routers.js';
import { securityGroupsByIds } from '../store/security-groups.js';
import { floatingIpsByIds } from '../store/floating-ips.js';

/** Reads objects of one kind by id, as the REST API shows them (objects without `id` are dropped). */
export type Loader = (q: Queryable, ids: string[]) => Promise<Array<{ id: string }>>;

export interface EventKind {
  /** The event's `kind`: the change log's kind in the singular. */
  name: string;
  /** Reads the objects; absent: events of this kind carry `object: null`. */
  load?: Loader;
  /** Never sent (internal bookkeeping or secrets: ipsec key material, token revocations). */
  hidden?: true;
}

/**
 * How change-log kinds become events. A kind not listed here (a table logged later) is still
 * sent, named by its log kind in the singular, with `object: null` and the change row's tenant
 * scope; adding a loader here gives its events the object.
 */
export const EVENT_KINDS: Record<string, EventKind> = {
  tenants: { name: 'tenant', load: tenantsByIds },
  networks: { name: 'network', load: networksByIds },
  containers: { name: 'container', load: containersByIds },
  endpoints: { name: 'endpoint', load: endpointsByIds },
  nodes: { name: 'node', load: nodesByIds },
  routers: { name: 'router', load: routersByIds },
  security_groups: { name: 'security_group', load: securityGroupsByIds },
  floating_ips: { name: 'floating_ip', load: floatingIpsByIds },
  image_repositories: { name: 'image_repository' },
  ipsec_keys: { name: 'ipsec_key', hidden: true },
  tokens: { name: 'token', hidden: true },
};

/** The event kind of a change-log kind (`security_groups` → `security_group`). */
export function eventKind(logKind: string): EventKind {
  return EVENT_KINDS[logKind] ?? { name: singular(logKind) };
}

function singular(k: string): string {
  if (k.endsWith('ies')) return `${k.slice(0, -3)}y`;
  if (k.endsWith('s')) return k.slice(0, -1);
  return k;
}

/** Loads the objects of many kinds at once: (log kind → ids) → (log kind → id → object). */
export async function loadObjects(
  q: Queryable,
  want: Map<string, Set<string>>,
): Promise<Map<string, Map<string, Record<string, unknown>>>> {
  const out = new Map<string, Map<string, Record<string, unknown>>>();
  for (const [kind, ids] of want) {
    const load = eventKind(kind).load;
    if (!load || ids.size === 0) continue;
    const found = await load(q, [...ids]);
    out.set(kind, new Map(found.map((o) => [o.id, o as unknown as Record<string, unknown>])));
  }
  return out;
}
