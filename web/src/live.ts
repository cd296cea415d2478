import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, api, enc, listAll } from './api.js';
import type { ChangeEvent, Container, Network, Node, Router, Tenant } from './model.js';
import { openEvents, type SseMessage } from './sse.js';
import { ConsoleState, applyEvent, upsertContainer, upsertNetwork } from './state.js';

export type LinkState = 'connecting' | 'live' | 'reconnecting';

/**
 * The console's data: listed once through the REST API, then kept current by GET /v1/events.
 * The stream is opened first and its events are held until the lists are in, so nothing that
 * changes during the load is missed; on a drop it resumes with `since`, on `resync` it lists again.
 */
export class Live {
  readonly state = new ConsoleState();
  admin = false;
  loaded = false;
  link: LinkState = 'connecting';
  /** Why the last load or stream failed, shown in the header. */
  problem: string | null = null;
  private held: ChangeEvent[] | null = [];
  private close: (() => void) | null = null;
  private stopped = false;
  private listeners = new Set<() => void>();
  private queued = false;

  constructor(private readonly token: string) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Coalesces many changes (a page of 1,000 containers, a burst of events) into one render. */
  changed(): void {
    if (this.queued) return;
    this.queued = true;
    setTimeout(() => {
      this.queued = false;
      for (const fn of this.listeners) fn();
    }, 16);
  }

  async start(): Promise<void> {
    this.follow(undefined);
    await this.load();
  }

  stop(): void {
    this.stopped = true;
    this.close?.();
  }

  private async load(): Promise<void> {
    this.held = [];
    this.loaded = false;
    this.state.clear();
    try {
      this.admin = await api('GET', '/v1/nodes?limit=1').then(
        () => true,
        (e: unknown) => (e instanceof ApiFailure && e.status === 403 ? false : Promise.reject(e)),
      );
      const tenants = await listAll<Tenant>('/v1/tenants');
      for (const t of tenants) this.state.tenants.set(t.id, t);
      this.changed();
      await Promise.all([this.admin ? this.loadNodes() : Promise.resolve(), ...tenants.map((t) => this.loadTenant(t.name))]);
      for (const e of this.held ?? []) applyEvent(this.state, e);
      this.held = null;
      this.loaded = true;
      this.problem = null;
    } catch (e) {
      this.problem = `loading failed: ${(e as Error).message}`;
    }
    this.state.version++;
    this.changed();
  }

  async loadNodes(): Promise<void> {
    for (const n of await listAll<Node>('/v1/nodes')) this.state.nodes.set(n.id, n);
  }

  private async loadTenant(t: string): Promise<void> {
    await Promise.all([
      listAll<Network>(`/v1/tenants/${enc(t)}/networks`).then((l) => l.forEach((n) => upsertNetwork(this.state, n))),
      this.loadRouters(t),
      listAll<Container>(`/v1/tenants/${enc(t)}/containers`, (page) => {
        for (const c of page) upsertContainer(this.state, c);
        this.state.version++;
        this.changed();
      }),
    ]);
  }

  private async loadRouters(t: string): Promise<void> {
    const list = await listAll<Router>(`/v1/tenants/${enc(t)}/routers`);
    for (const [k, r] of this.state.routers) if (r.tenant === t && !list.some((x) => x.name === r.name)) this.state.routers.delete(k);
    for (const r of list) this.state.routers.set(`${t}/${r.name}`, { ...this.state.routers.get(`${t}/${r.name}`), ...r });
  }

  private follow(since: number | undefined): void {
    if (this.stopped) return;
    this.close = openEvents(this.token, since, {
      onMessage: (m) => this.onMessage(m),
      onClose: (err, status) => {
        if (this.stopped) return;
        this.link = 'reconnecting';
        this.problem = status === 401 ? 'token refused' : `events: ${(err as Error)?.message ?? 'closed'}`;
        this.changed();
        if (status === 401) return;
        setTimeout(() => this.follow(this.state.revision || undefined), 1000);
      },
    });
  }

  private onMessage(m: SseMessage): void {
    const data = JSON.parse(m.data) as Record<string, unknown>;
    if (m.event === 'ready') {
      if (typeof data.revision === 'number' && !this.state.revision) this.state.revision = data.revision;
      this.link = 'live';
      this.problem = null;
    } else if (m.event === 'resync') {
      this.state.revision = data.revision as number;
      this.link = 'live';
      void this.load();
      return;
    } else if (m.event === 'change' || m.event === 'status') {
      const e = data as unknown as ChangeEvent;
      if (this.held) this.held.push(e);
      else applyEvent(this.state, e);
      if (this.state.staleRouters.size && !this.held) {
        const ts = [...this.state.staleRouters];
        this.state.staleRouters.clear();
        void Promise.all(ts.map((t) => this.loadRouters(t))).then(() => {
          this.state.version++;
          this.changed();
        });
      }
    }
    this.changed();
  }
}

/** Re-renders the calling component whenever the live data changes. */
export function useLive(live: Live): number {
  const [, setTick] = useState(0);
  useEffect(() => live.subscribe(() => setTick((n) => n + 1)), [live]);
  return live.state.version;
}
