import type { ChangeEvent, Container, Network, Node, Router, Tenant } from './model.js';

/**
 * Everything the console shows, kept current by the events stream. Plain maps keyed by id, changed
 * in place by `applyEvent` (pure of I/O, unit-tested in state.test.ts); `version` grows with every
 * change so views can tell whether to render again.
 */
export class ConsoleState {
  tenants = new Map<string, Tenant>();
  networks = new Map<string, Network>();
  containers = new Map<string, Container>();
  nodes = new Map<string, Node>();
  /** Container id by `tenant/name` (endpoint events name their container). */
  containerIds = new Map<string, string>();
  /** By `tenant/name`: the REST list has no router ids. */
  routers = new Map<string, Router>();
  version = 0;
  revision = 0;
  /** Tenants whose routers must be listed again (a router delete event carries only the id). */
  staleRouters = new Set<string>();

  clear(): void {
    this.tenants.clear();
    this.networks.clear();
    this.containers.clear();
    this.containerIds.clear();
    this.nodes.clear();
    this.routers.clear();
    this.version++;
  }
}

/** Newer wins: a list answer and a buffered event may hold the same object at two moments. */
function newer(prev: { updatedAt?: string } | undefined, next: { updatedAt?: string }): boolean {
  return !prev?.updatedAt || !next.updatedAt || next.updatedAt >= prev.updatedAt;
}

export function upsertContainer(s: ConsoleState, c: Container): void {
  const prev = s.containers.get(c.id);
  if (!newer(prev, c)) return;
  if (prev && prev.name !== c.name) s.containerIds.delete(`${prev.tenant}/${prev.name}`);
  s.containers.set(c.id, c);
  s.containerIds.set(`${c.tenant}/${c.name}`, c.id);
}

function deleteContainer(s: ConsoleState, id: string): void {
  const prev = s.containers.get(id);
  if (prev && s.containerIds.get(`${prev.tenant}/${prev.name}`) === id) s.containerIds.delete(`${prev.tenant}/${prev.name}`);
  s.containers.delete(id);
}
export function upsertNetwork(s: ConsoleState, n: Network): void {
  if (newer(s.networks.get(n.id), n)) s.networks.set(n.id, n);
}

/** Applies one change or status event; returns false for kinds the console does not show. */
export function applyEvent(s: ConsoleState, e: ChangeEvent): boolean {
  if (e.revision > s.revision) s.revision = e.revision;
  const o = e.object;
  const gone = e.op === 'delete' || o === null;
  switch (e.kind) {
    case 'tenant':
      if (gone) s.tenants.delete(e.id);
      else s.tenants.set(e.id, o as unknown as Tenant);
      break;
    case 'network':
      if (gone) s.networks.delete(e.id);
      else upsertNetwork(s, o as unknown as Network);
      break;
    case 'container':
      if (gone) deleteContainer(s, e.id);
      else upsertContainer(s, o as unknown as Container);
      break;
    case 'node':
      if (gone) s.nodes.delete(e.id);
      else s.nodes.set(e.id, o as unknown as Node);
      break;
    case 'endpoint':
      if (!gone) patchEndpoint(s, e.tenant, o);
      break;
    case 'router': {
      if (gone) {
        for (const [k, r] of s.routers) if (r.id === e.id) s.routers.delete(k);
        if (e.tenant) s.staleRouters.add(e.tenant);
      } else {
        const r = o as unknown as Router;
        s.routers.set(`${r.tenant}/${r.name}`, { ...r, id: e.id });
      }
      break;
    }
    default:
      return false;
  }
  s.version++;
  return true;
}

/** An endpoint event (container, network, ip, mac, node) updates its container's address list. */
function patchEndpoint(s: ConsoleState, tenant: string | null, o: Record<string, unknown>): void {
  const id = s.containerIds.get(`${tenant}/${o.container as string}`);
  const c = id === undefined ? undefined : s.containers.get(id);
  if (!c) return;
  const ep = { network: o.network as string, ip: o.ip as string, mac: o.mac as string };
  const i = c.endpoints.findIndex((x) => x.network === ep.network);
  const endpoints = [...c.endpoints];
  if (i >= 0) endpoints[i] = ep;
  else endpoints.push(ep);
  s.containers.set(c.id, { ...c, endpoints, node: (o.node as string | null) ?? c.node });
}
