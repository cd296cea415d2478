import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Counters } from '../../infra-container/metrics.js';
import { METRICS_LIMITS, parseInfraCounters, readInfraCounters } from './infra-counters.js';

describe('parseInfraCounters', () => {
  it("reads the infra server's own prom-client text", async () => {
    const c = new Counters();
    c.inc('dhcp_packets', 5);
    c.inc('dhcp_offer', 2);
    c.inc('dhcp_ack', 2);
    c.inc('dhcp_malformed');
    c.set('dhcp_leases_active', 2);
    c.inc('dns_packets', 7);
    c.inc('dns_malformed');
    c.inc('dns_rcode_SERVFAIL', 2);
    c.inc('dns_rcode_NOERROR', 4);
    c.inc('dns_forwarded', 3);
    c.answered('dns', 0.001);
    expect(parseInfraCounters(await c.prometheus())).toEqual({
      dhcpLeases: 2,
      dhcpAnswers: 4,
      dhcpPackets: 5,
      dhcpErrors: 1,
      dnsQueries: 7,
      dnsErrors: 3,
      dnsForwarded: 3,
    });
  });

  it('skips hostile lines: labels, negatives, huge, non-numbers, duplicates, other prefixes', () => {
    const text = [
      '# HELP freight_infra_dns_packets x',
      'freight_infra_dns_packets 4',
      'freight_infra_dns_packets 999', // a second sample of one name: the first counts
      'freight_infra_dhcp_leases_active -3',
      'freight_infra_dhcp_packets 1e400',
      'freight_infra_dhcp_ack 99999999999999999999',
      'freight_infra_dhcp_offer NaN',
      'freight_infra_dhcp_nak{le="1"} 7',
      'freight_infra_dns_malformed 1.5',
      'other_dns_forwarded 5',
      '\u0000\uffff garbage',
      ' freight_infra_dns_forwarded 6',
      'freight_infra_dns_rcode_SERVFAIL 2 ',
    ].join('\n');
    expect(parseInfraCounters(text)).toEqual({
      dhcpLeases: 0,
      dhcpAnswers: 0,
      dhcpPackets: 0,
      dhcpErrors: 0,
      dnsQueries: 4,
      dnsErrors: 2,
      dnsForwarded: 0,
    });
  });

  it('throws on text with no infra counters at all, and reads at most its line bound', () => {
    expect(() => parseInfraCounters('')).toThrow(/no freight_infra_ counters/);
    expect(() => parseInfraCounters('<html>hello</html>')).toThrow(/no freight_infra_ counters/);
    const long = 'x\n'.repeat(METRICS_LIMITS.lines) + 'freight_infra_dns_packets 1\n';
    expect(() => parseInfraCounters(long)).toThrow(/no freight_infra_ counters/);
  });

  it('caps sums at the largest safe integer', () => {
    const big = Number.MAX_SAFE_INTEGER;
    expect(parseInfraCounters(`freight_infra_dhcp_offer ${big}\nfreight_infra_dhcp_ack ${big}\n`).dhcpAnswers).toBe(big);
  });
});

describe('readInfraCounters (a real unix socket)', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const runDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'freight-counters-'));
    dirs.push(d);
    return d;
  };
  const serve = (socket: string, handler: Parameters<typeof createServer>[1]) =>
    new Promise<void>((resolve) => {
      const s = createServer(handler);
      servers.push(s);
      s.listen(socket, resolve);
    });

  it('scrapes the socket', async () => {
    const dir = runDir();
    await serve(join(dir, 'metrics.sock'), (_q, r) => r.end('freight_infra_dhcp_leases_active 3\nfreight_infra_dns_packets 9\n'));
    expect(await readInfraCounters(dir)).toMatchObject({ dhcpLeases: 3, dnsQueries: 9 });
  });

  it('refuses a missing socket, a plain file, a symlink (even to a real socket), a bad status', async () => {
    const dir = runDir();
    await expect(readInfraCounters(dir)).rejects.toThrow(/ENOENT/);
    const file = runDir();
    writeFileSync(join(file, 'metrics.sock'), 'freight_infra_dns_packets 9\n');
    await expect(readInfraCounters(file)).rejects.toThrow(/not a socket/);
    const other = runDir();
    await serve(join(other, 'metrics.sock'), (_q, r) => r.end('freight_infra_dns_packets 9\n'));
    symlinkSync(join(other, 'metrics.sock'), join(dir, 'metrics.sock'));
    await expect(readInfraCounters(dir)).rejects.toThrow(/ELOOP|not a socket/);
    const bad = runDir();
    await serve(join(bad, 'metrics.sock'), (_q, r) => {
      r.statusCode = 500;
      r.end('freight_infra_dns_packets 9\n');
    });
    await expect(readInfraCounters(bad)).rejects.toThrow(/status 500/);
  });

  it('gives up on a silent server and on an endless answer', async () => {
    const slow = runDir();
    await serve(join(slow, 'metrics.sock'), () => {});
    const t0 = Date.now();
    await expect(readInfraCounters(slow, 300)).rejects.toThrow(/no answer in 300 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
    const huge = runDir();
    await serve(join(huge, 'metrics.sock'), (_q, r) => {
      const chunk = 'freight_infra_dns_packets 1\n'.repeat(4096);
      const push = () => {
        while (r.write(chunk));
        r.once('drain', push);
      };
      r.on('error', () => {});
      push();
    });
    await expect(readInfraCounters(huge)).rejects.toThrow(/over 262144 bytes/);
  });
});
