import { describe, expect, it } from 'vitest';
import type { Container, Network } from '../model.js';
import { MAX_CHIPS, W, layoutTenant } from './topology-layout.js';

const net = (name: string): Network => ({
  id: name,
  tenant: 'acme',
  name,
  type: 'vxlan',
  vni: 1,
  cidr: '10.0.0.0/24',
  gateway: null,
  mtu: null,
  domain: 'freight.internal',
  infra: { name: `infra-${name}`, ip: '10.0.0.254', mac: 'm', node: 'n1' },
});
const con = (i: number, network: string): Container => ({
  id: `c${i}`,
  tenant: 'acme',
  name: `c${i}`,
  kind: 'container',
  image: 'busybox',
  node: `n${i % 3}`,
  desiredState: 'running',
  observedState: 'running',
  exitCode: null,
  reason: null,
  restarts: 0,
  endpoints: [{ network, ip: `10.0.0.${i}`, mac: 'm' }],
});

describe('layoutTenant', () => {
  it('puts every container of a network, and its infra instance first, inside its segment without overlap', () => {
    const cs = Array.from({ length: 200 }, (_, i) => con(i, i % 2 ? 'a' : 'b'));
    const l = layoutTenant([net('a'), net('b')], cs, []);
    expect(l.segments.map((s) => s.chips.length)).toEqual([101, 101]);
    for (const s of l.segments) {
      expect(s.chips[0].infra).toBe(true);
      const seen = new Set<string>();
      for (const c of s.chips) {
        expect(c.y).toBeGreaterThanOrEqual(s.y);
        expect(c.y + c.h).toBeLessThanOrEqual(s.y + s.h);
        expect(c.x + c.w).toBeLessThanOrEqual(W);
        const at = `${c.x},${c.y}`;
        expect(seen.has(at)).toBe(false);
        seen.add(at);
      }
    }
    expect(l.segments[1].y).toBeGreaterThan(l.segments[0].y + l.segments[0].h);
  });

  it('orders names as people read them and links a router to each attached network', () => {
    const l = layoutTenant(
      [net('a'), net('b')],
      [con(10, 'a'), con(2, 'a')],
      [{ tenant: 'acme', name: 'r1', external: true, networks: [{ name: 'b', cidr: '', gateway: '10.0.0.1' }] }],
    );
    expect(l.segments[0].chips.map((c) => c.name)).toEqual(['infra-a', 'c2', 'c10']);
    expect(l.routers[0].links).toEqual([{ y: l.segments[1].y + 13, gateway: '10.0.0.1' }]);
  });

  it('draws at most MAX_CHIPS containers of a network and counts the rest', () => {
    const l = layoutTenant(
      [net('a')],
      Array.from({ length: 1000 }, (_, i) => con(i, 'a')),
      [],
    );
    expect(l.segments[0].chips).toHaveLength(MAX_CHIPS + 1);
    expect(l.segments[0].hidden).toBe(1000 - MAX_CHIPS);
  });
});
