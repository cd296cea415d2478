import { describe, expect, it } from 'vitest';
import type { ChangeEvent, Container } from './model.js';
import { ConsoleState, applyEvent, upsertContainer } from './state.js';

const container = (over: Partial<Container> = {}): Container => ({
  id: 'c1',
  tenant: 'acme',
  name: 'web',
  kind: 'container',
  image: 'busybox',
  node: null,
  desiredState: 'running',
  observedState: 'pending',
  exitCode: null,
  reason: null,
  restarts: 0,
  endpoints: [{ network: 'blue', ip: '10.0.0.2', mac: '02:00:00:00:00:02' }],
  updatedAt: '2026-01-01T00:00:01.000Z',
  ...over,
});
const ev = (over: Partial<ChangeEvent>): ChangeEvent => ({
  revision: 1,
  kind: 'container',
  op: 'create',
  id: 'c1',
  tenant: 'acme',
  object: null,
  ...over,
});

describe('applyEvent', () => {
  it('creates, updates and deletes containers by id and follows the revision', () => {
    const s = new ConsoleState();
    applyEvent(s, ev({ revision: 3, object: container() as never }));
    expect(s.containers.get('c1')?.observedState).toBe('pending');
    applyEvent(
      s,
      ev({ revision: 4, op: 'status', object: container({ observedState: 'running', updatedAt: '2026-01-01T00:00:02.000Z' }) as never }),
    );
    expect(s.containers.get('c1')?.observedState).toBe('running');
    applyEvent(s, ev({ revision: 5, op: 'delete' }));
    expect(s.containers.size).toBe(0);
    expect(s.revision).toBe(5);
  });

  it('keeps the newer copy when a list answer and a held event disagree', () => {
    const s = new ConsoleState();
    upsertContainer(s, container({ observedState: 'running', updatedAt: '2026-01-01T00:00:05.000Z' }));
    applyEvent(s, ev({ object: container({ observedState: 'pending' }) as never }));
    expect(s.containers.get('c1')?.observedState).toBe('running');
  });

  it('moves an endpoint event into its container (node and address)', () => {
    const s = new ConsoleState();
    upsertContainer(s, container());
    applyEvent(
      s,
      ev({
        kind: 'endpoint',
        id: 'e1',
        object: { container: 'web', network: 'blue', ip: '10.0.0.9', mac: '02:00:00:00:00:09', node: 'n2' },
      }),
    );
    expect(s.containers.get('c1')).toMatchObject({ node: 'n2', endpoints: [{ ip: '10.0.0.9' }] });
  });

  it('an endpoint event of another tenant never touches a same-named container', () => {
    const s = new ConsoleState();
    upsertContainer(s, container());
    applyEvent(
      s,
      ev({
        kind: 'endpoint',
        tenant: 'globex',
        id: 'e1',
        object: { container: 'web', network: 'blue', ip: '10.0.0.9', mac: 'x', node: 'n2' },
      }),
    );
    expect(s.containers.get('c1')?.endpoints[0].ip).toBe('10.0.0.2');
  });

  it('marks a tenant whose router was deleted for a new router list, and ignores kinds it does not show', () => {
    const s = new ConsoleState();
    applyEvent(s, ev({ kind: 'router', id: 'r1', object: { tenant: 'acme', name: 'r1', external: false, networks: [] } }));
    expect(s.routers.get('acme/r1')?.id).toBe('r1');
    applyEvent(s, ev({ kind: 'router', id: 'r1', op: 'delete' }));
    expect(s.routers.size).toBe(0);
    expect([...s.staleRouters]).toEqual(['acme']);
    expect(applyEvent(s, ev({ kind: 'image_repository', id: 'x' }))).toBe(false);
  });

  it('finds the container of an endpoint event by name after a rename-free delete and re-create', () => {
    const s = new ConsoleState();
    upsertContainer(s, container());
    applyEvent(s, ev({ op: 'delete' }));
    upsertContainer(s, container({ id: 'c2' }));
    applyEvent(s, ev({ kind: 'endpoint', id: 'e2', object: { container: 'web', network: 'blue', ip: '10.0.0.7', mac: 'm', node: 'n1' } }));
    expect(s.containers.get('c2')?.endpoints[0].ip).toBe('10.0.0.7');
    expect(s.containers.has('c1')).toBe(false);
  });
});
