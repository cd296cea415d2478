import { describe, expect, it } from 'vitest';
import { MIN_SPI, mintMaterial, spisByDestination } from './material.js';
import { plan, wantedPairs, type KeyState, type PlanInput } from './plan.js';

const H = 3_600_000;
const NET = 'net-1';
const [A, B, C] = ['node-a', 'node-b', 'node-c'];

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    now: 100 * H,
    rotateAfterMs: 24 * H,
    hosts: new Map([[NET, new Set([A, B])]]),
    keys: [],
    applied: new Map([
      [A, 50],
      [B, 50],
      [C, 50],
    ]),
    requests: new Map(),
    ...over,
  };
}
let ids = 0;
const key = (generation: number, phase: KeyState['phase'], extra: Partial<KeyState> = {}): KeyState => ({
  id: `k${++ids}`,
  networkId: NET,
  nodeA: A,
  nodeB: B,
  generation,
  phase,
  revision: 10,
  createdAt: 99 * H,
  ...extra,
});

describe('key planner', () => {
  it('creates generation 1 (inbound) for each pair of nodes hosting an ipsec network, none for a lone node', () => {
    const p = plan(
      input({
        hosts: new Map([
          [NET, new Set([C, A, B])],
          ['lonely', new Set([A])],
        ]),
      }),
    );
    expect(p.actions).toEqual([
      { kind: 'create', networkId: NET, nodeA: A, nodeB: B, generation: 1 },
      { kind: 'create', networkId: NET, nodeA: A, nodeB: C, generation: 1 },
      { kind: 'create', networkId: NET, nodeA: B, nodeB: C, generation: 1 },
    ]);
    expect(p.waiting).toBe(true);
  });

  it('activates an inbound generation only once BOTH nodes acked its revision', () => {
    const k = key(1, 'inbound', { revision: 60 });
    expect(
      plan(
        input({
          keys: [k],
          applied: new Map([
            [A, 60],
            [B, 59],
          ]),
        }),
      ).actions,
    ).toEqual([]);
    expect(
      plan(
        input({
          keys: [k],
          applied: new Map([
            [A, 59],
            [B, 60],
          ]),
        }),
      ).actions,
    ).toEqual([]);
    expect(
      plan(
        input({
          keys: [k],
          applied: new Map([
            [A, 60],
            [B, 61],
          ]),
        }),
      ).actions,
    ).toEqual([{ kind: 'activate', networkId: NET, nodeA: A, nodeB: B, id: k.id, retire: [] }]);
  });

  it('rotates when due: new inbound generation, then active + old retiring, then deletes the old one, each after both acks', () => {
    const g1 = key(1, 'active', { createdAt: 70 * H });
    let p = plan(input({ keys: [g1] }));
    expect(p.actions).toEqual([{ kind: 'create', networkId: NET, nodeA: A, nodeB: B, generation: 2 }]);

    const g2 = key(2, 'inbound', { revision: 70 });
    p = plan(
      input({
        keys: [g1, g2],
        applied: new Map([
          [A, 70],
          [B, 69],
        ]),
      }),
    );
    expect([p.actions, p.waiting]).toEqual([[], true]);
    p = plan(
      input({
        keys: [g1, g2],
        applied: new Map([
          [A, 70],
          [B, 70],
        ]),
      }),
    );
    expect(p.actions).toEqual([{ kind: 'activate', networkId: NET, nodeA: A, nodeB: B, id: g2.id, retire: [g1.id] }]);

    const g1r = { ...g1, phase: 'retiring' as const, revision: 80 };
    const g2a = { ...g2, phase: 'active' as const, revision: 80 };
    expect(
      plan(
        input({
          keys: [g1r, g2a],
          applied: new Map([
            [A, 79],
            [B, 80],
          ]),
        }),
      ).actions,
    ).toEqual([]);
    expect(
      plan(
        input({
          keys: [g2a, g1r],
          applied: new Map([
            [A, 80],
            [B, 80],
          ]),
        }),
      ).actions,
    ).toEqual([{ kind: 'delete', ids: [g1.id], why: 'retired' }]);
  });

  it('does nothing for a steady pair before it is due, and says when it will be', () => {
    const p = plan(input({ keys: [key(3, 'active', { createdAt: 90 * H })] }));
    expect(p).toEqual({ actions: [], waiting: false, nextDue: 114 * H });
  });

  it('rotates on request when the active key predates the request, and drops the request once all pairs have newer keys', () => {
    const old = key(1, 'active', { createdAt: 99 * H });
    expect(plan(input({ keys: [old], requests: new Map([[NET, 99.5 * H]]) })).actions).toEqual([
      { kind: 'create', networkId: NET, nodeA: A, nodeB: B, generation: 2 },
    ]);
    const fresh = key(2, 'active', { createdAt: 99.6 * H });
    expect(plan(input({ keys: [fresh], requests: new Map([[NET, 99.5 * H]]) })).actions).toEqual([
      { kind: 'request done', networkId: NET, requestedAt: 99.5 * H },
    ]);
    // mid-rotation the request is not done yet
    expect(plan(input({ keys: [fresh, key(3, 'inbound', { revision: 99 })], requests: new Map([[NET, 99.5 * H]]) })).actions).toEqual([]);
  });

  it('deletes every generation of a pair when a node no longer hosts the network', () => {
    const k1 = key(1, 'retiring');
    const k2 = key(2, 'active');
    const p = plan(input({ keys: [k1, k2], hosts: new Map([[NET, new Set([A])]]) }));
    expect(p.actions).toEqual([{ kind: 'delete', ids: [k1.id, k2.id], why: 'pair gone' }]);
  });

  it('repairs odd states: a retiring newest generation starts over; stray rows are removed', () => {
    expect(plan(input({ keys: [key(4, 'retiring')] })).actions).toMatchObject([{ kind: 'delete', why: 'stray' }]);
    const a1 = key(1, 'active');
    const a2 = key(2, 'active', { createdAt: 99.9 * H });
    expect(plan(input({ keys: [a2, a1] })).actions).toEqual([{ kind: 'delete', ids: [a1.id], why: 'stray' }]);
  });

  it('lists pairs with node_a < node_b, as the table requires', () => {
    expect(wantedPairs(new Map([['n', new Set(['b', 'c', 'a'])]])).map((p) => p.nodeA + p.nodeB)).toEqual(['ab', 'ac', 'bc']);
  });
});

describe('key material', () => {
  it('makes 40-hex-digit keys and SPIs >= 0x100, unique per destination node', () => {
    // a generator that first offers reserved and taken SPIs
    const queue = [0x00000005, 0x00000300, 0x00000200, 0x00000200];
    const random = (n: number) => {
      const b = Buffer.alloc(n, 0xab);
      if (n === 4) b.writeUInt32BE(queue.shift() ?? 0x12345678);
      return b;
    };
    const inUse = spisByDestination([{ nodeA: C, nodeB: B, spiAb: 0x300, spiBa: 0x999 }]);
    const m = mintMaterial(A, B, inUse, random);
    expect(m.spiAb).toBe(0x200); // 5 is reserved, 0x300 already arrives at B
    expect(m.spiBa).toBe(0x200); // A's inbound SAs are another namespace: unique per destination only
    expect(m.keyAb).toMatch(/^[0-9a-f]{40}$/);
    expect(inUse.get(B)).toEqual(new Set([0x300, 0x200]));
    for (let i = 0; i < 200; i++) {
      const r = mintMaterial(A, B, inUse);
      expect(r.spiAb).toBeGreaterThanOrEqual(MIN_SPI);
      expect(r.keyAb).not.toBe(r.keyBa);
    }
    expect(inUse.get(B)!.size).toBe(202);
  });
});
