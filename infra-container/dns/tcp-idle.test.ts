import net from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Counters } from '../metrics.js';
import { sampleConfig } from '../../test/support/infra-config.js';
import { TYPE } from './constants.js';
import { encodeQuery } from '../../test/support/dns-message.js';
import { startDnsServer } from './server.js';
import { buildZone } from './zone.js';

describe('DNS over TCP idle limit', () => {
  it('closes a connection whose client stopped reading once nothing moves for idleMs', async () => {
    const zone = buildZone(sampleConfig());
    const counters = new Counters();
    const srv = await startDnsServer({
      host: '127.0.0.1',
      port: 0,
      zone: () => zone,
      counters,
      forwardTimeoutMs: 300,
      log: pino({ level: 'silent' }),
      tcpLimits: { idleMs: 300 },
    });
    try {
      const q = encodeQuery('web', TYPE.A, { id: 1 });
      const f = Buffer.concat([Buffer.from([0, q.length]), q]);
      const s = net.connect({ host: '127.0.0.1', port: srv.port });
      s.pause();
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      const t0 = Date.now();
      const chunk = Buffer.concat(Array.from({ length: 30_000 }, () => f));
      for (let i = 0; i < 40 && s.write(chunk); i++); // until the kernel stops taking more
      // the paused client would not even see the close: watch the server's side
      while (!counters.snapshot().dns_tcp_idle_closed && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 50));
      expect(counters.snapshot().dns_tcp_idle_closed).toBe(1);
      s.destroy();
      expect(counters.snapshot().dns_tcp_paused).toBeGreaterThanOrEqual(1);
    } finally {
      await srv.close();
    }
  }, 15_000);
});
