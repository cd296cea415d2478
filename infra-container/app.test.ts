import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startInfra, type Infra } from './app.js';
import { loadConfig, writeConfigAtomic } from './config.js';
import { TYPE } from './dns/constants.js';
import { encodeQuery } from '../test/support/dns-message.js';
import { decodeAnswer, type DecodedMessage as Message } from '../test/support/dns.js';
import { sampleConfig } from '../test/support/infra-config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'fr-infra-app-'));
const log = pino({ level: 'silent' });
const running: Infra[] = [];
afterAll(async () => {
  await Promise.all(running.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(
  name: string,
  over: Parameters<typeof sampleConfig>[0] = {},
  forwardTimeoutMs = 300,
): Promise<{ infra: Infra; file: string }> {
  const file = path.join(dir, `${name}.json`);
  await writeConfigAtomic(file, sampleConfig(over));
  const infra = await startInfra({ configPath: file, dnsPort: 0, dhcpPort: 0, listen: '127.0.0.1', dhcp: false, forwardTimeoutMs, log });
  running.push(infra);
  return { infra, file };
}

function udp(port: number, q: Buffer): Promise<Message> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => (s.close(), reject(new Error('udp query timed out'))), 3000);
    s.on('message', (m) => (clearTimeout(t), s.close(), resolve(decodeAnswer(m))));
    s.send(q, port, '127.0.0.1');
  });
}

const a = (m: Message): string[] => m.answers.filter((r) => r.type === TYPE.A).map((r) => r.data);

describe('infra app on loopback (DNS only)', () => {
  it('writes the config atomically and validates on load', async () => {
    const file = path.join(dir, 'w.json');
    await writeConfigAtomic(file, sampleConfig());
    expect((await loadConfig(file)).config.bindings).toHaveLength(2);
    writeFileSync(file, '{"revision": 1}');
    await expect(loadConfig(file)).rejects.toMatchObject({ code: 'config_invalid' });
    await expect(loadConfig(path.join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'config_read' });
    await expect(writeConfigAtomic(file, { ...sampleConfig(), leaseSeconds: 1 })).rejects.toThrow();
  });

  it('answers several queries on one TCP connection, split across writes', async () => {
    const { infra } = await start('tcp');
    const frames = [encodeQuery('web', TYPE.A, { id: 1 }), encodeQuery('db', TYPE.A, { id: 2 })].map((q) => {
      const f = Buffer.alloc(2 + q.length);
      f.writeUInt16BE(q.length);
      q.copy(f, 2);
      return f;
    });
    const wire = Buffer.concat(frames);
    const replies = await new Promise<Message[]>((resolve, reject) => {
      const c = net.connect(infra.dnsPort, '127.0.0.1');
      let buf = Buffer.alloc(0);
      const got: Message[] = [];
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          got.push(decodeAnswer(buf.subarray(2, 2 + buf.readUInt16BE(0))));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (got.length === 2) {
          c.end();
          resolve(got);
        }
      });
      c.on('error', reject);
      c.write(wire.subarray(0, 5));
      setTimeout(() => c.write(wire.subarray(5)), 20);
    });
    expect(replies.map((m) => [m.id, a(m)])).toEqual([
      [1, ['10.77.0.10']],
      [2, ['10.77.0.11']],
    ]);
  });

  it('forwards outside names to a configured upstream, and keeps answering locally when it is down', async () => {
    const upstream = await start('up', {
      network: { ...sampleConfig().network, zone: 'other.t2.freight.internal' },
      bindings: [{ mac: '02:00:00:00:00:20', ip: '10.77.0.20', name: 'far' }],
    });
    const { infra } = await start('fwd', { upstreams: [`127.0.0.1:${upstream.infra.dnsPort}`] });
    const far = await udp(infra.dnsPort, encodeQuery('far.other.t2.freight.internal', TYPE.A, { id: 77 }));
    expect(far.id).toBe(77);
    expect(a(far)).toEqual(['10.77.0.20']);
    expect(infra.counters.get('dns_forwarded')).toBe(1);

    // an upstream that never answers (a bound socket that reads nothing)
    const mute = dgram.createSocket('udp4');
    await new Promise<void>((r) => mute.bind(0, '127.0.0.1', () => r()));
    const down = await start('down', { upstreams: [`127.0.0.1:${mute.address().port}`] });
    const slow = udp(down.infra.dnsPort, encodeQuery('example.com', TYPE.A));
    expect(a(await udp(down.infra.dnsPort, encodeQuery('web', TYPE.A)))).toEqual(['10.77.0.10']);
    expect((await slow).rcode).toBe(2); // SERVFAIL after the timeout
    expect(down.infra.counters.get('dns_forward_failed')).toBe(1);
    mute.close();
  });

  it('reloads the zone in place when the file is replaced, and ignores an invalid one', async () => {
    const { infra, file } = await start('reload');
    const t0 = Date.now();
    await writeConfigAtomic(file, sampleConfig({ revision: 8, bindings: [{ mac: '02:00:00:00:00:30', ip: '10.77.0.30', name: 'new' }] }));
    for (;;) {
      if (a(await udp(infra.dnsPort, encodeQuery('new', TYPE.A))).length) break;
      expect(Date.now() - t0).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await udp(infra.dnsPort, encodeQuery('web', TYPE.A))).rcode).toBe(5); // gone: short name now outside
    writeFileSync(file, 'not json');
    await new Promise((r) => setTimeout(r, 200));
    expect(a(await udp(infra.dnsPort, encodeQuery('new', TYPE.A)))).toEqual(['10.77.0.30']);
    expect(infra.counters.get('config_reloads')).toBe(1);
  });

  it('drops garbage, answers FORMERR to a readable header with a bad question', async () => {
    const { infra } = await start('junk');
    const s = dgram.createSocket('udp4');
    s.send(Buffer.from([1, 2, 3]), infra.dnsPort, '127.0.0.1');
    const bad = encodeQuery('web', TYPE.A, { id: 9 }).subarray(0, 15);
    const reply = await new Promise<Message>((resolve) => {
      s.on('message', (m) => resolve(decodeAnswer(m)));
      s.send(bad, infra.dnsPort, '127.0.0.1');
    });
    s.close();
    expect(reply.id).toBe(9);
    expect(reply.rcode).toBe(1);
    expect(infra.counters.get('dns_malformed')).toBe(2);
  });
});
