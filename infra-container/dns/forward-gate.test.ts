import dgram from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { Counters } from '../metrics.js';
import { sampleConfig } from '../../test/support/infra-config.js';
import { RCODE, TYPE } from './constants.js';
import { ForwardGate, handleDns } from './handle.js';
import { encodeQuery } from '../../test/support/dns-message.js';
import { buildZone } from './zone.js';

// an upstream that never answers: every forward holds its socket until the timeout
const black = dgram.createSocket('udp4');
await new Promise<void>((r) => black.bind(0, '127.0.0.1', () => r()));
afterAll(() => black.close());

describe('forwarding is bounded', () => {
  it('past the gate a query gets SERVFAIL at once instead of another socket and timer', async () => {
    const zone = buildZone(sampleConfig({ upstreams: [`127.0.0.1:${black.address().port}`] }));
    const counters = new Counters();
    const ctx = { zone: () => zone, counters, forwardTimeoutMs: 300, forwards: new ForwardGate(2) };
    const replies = Array.from({ length: 5 }, (_, i) => handleDns(ctx, encodeQuery(`x${i}.example.org`, TYPE.A, { id: i }), 'udp'));
    expect(ctx.forwards.inflight).toBe(2);
    const shed = replies.filter((r) => !(r instanceof Promise)) as Buffer[];
    expect(shed).toHaveLength(3);
    for (const r of shed) expect(r[3] & 0xf).toBe(RCODE.SERVFAIL);
    await Promise.all(replies.filter((r) => r instanceof Promise));
    expect(ctx.forwards.inflight).toBe(0); // slots come back after the timeout
    expect(counters.snapshot()).toMatchObject({ dns_forward_shed: 3 });
  });
});
