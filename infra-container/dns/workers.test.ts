import cluster from 'node:cluster';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startInfra, type Infra } from '../app.js';
import { writeConfigAtomic } from '../config.js';
import { encodeQuery } from '../../test/support/dns-message.js';
import { decodeAnswer, type DecodedMessage as Message } from '../../test/support/dns.js';
import { sampleConfig } from '../../test/support/infra-config.js';
import { TYPE } from './constants.js';

const dir = mkdtempSync(path.join(tmpdir(), 'fr-dns-workers-'));
let infra: Infra | undefined;
afterAll(async () => {
  await infra?.close();
  rmSync(dir, { recursive: true, force: true });
});

function udp(port: number, q: Buffer): Promise<Message> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => (s.close(), reject(new Error('udp query timed out'))), 3000);
    s.on('message', (m) => (clearTimeout(t), s.close(), resolve(decodeAnswer(m))));
    s.send(q, port, '127.0.0.1');
  });
}
const a = (m: Message): string[] => m.answers.filter((r) => r.type === TYPE.A).map((r) => r.data);
const until = async (what: () => Promise<boolean> | boolean, ms = 3000): Promise<void> => {
  for (const t0 = Date.now(); !(await what()); await new Promise((r) => setTimeout(r, 50)))
    expect(Date.now() - t0, 'waited too long').toBeLessThan(ms);
};

describe('DNS UDP worker processes', () => {
  it('answer on the shared port, follow a reload, and report their counts to the primary', async () => {
    const file = path.join(dir, 'infra.json');
    await writeConfigAtomic(file, sampleConfig());
    const log = pino({ level: 'silent' });
    infra = await startInfra({ configPath: file, dnsPort: 0, dhcpPort: 0, listen: '127.0.0.1', dhcp: false, dnsWorkers: 2, log });
    const port = infra.dnsPort;
    for (let i = 0; i < 20; i++) expect(a(await udp(port, encodeQuery('web', TYPE.A, { id: i })))).toEqual(['10.77.0.10']);
    await writeConfigAtomic(file, sampleConfig({ revision: 8, bindings: [{ mac: '02:00:00:00:00:30', ip: '10.77.0.30', name: 'new' }] }));
    // every worker has the new zone: several answers in a row, whichever worker reads each
    await until(async () => {
      const r = await Promise.all(Array.from({ length: 8 }, () => udp(port, encodeQuery('new', TYPE.A))));
      return r.every((m) => a(m)[0] === '10.77.0.30');
    });
    const counters = infra.counters;
    await until(() => counters.get('dns_packets') >= 28 && counters.get('dns_rcode_NOERROR') >= 28);
    expect((await counters.prometheus()).match(/freight_infra_dns_answer_seconds_count (\d+)/)?.[1]).not.toBe('0');

    // a worker that dies is forked again; the other keeps answering meanwhile
    const pids = () => Object.values(cluster.workers ?? {}).map((w) => w?.process.pid);
    const [victim] = pids();
    process.kill(victim as number, 'SIGKILL');
    expect(a(await udp(port, encodeQuery('new', TYPE.A)))).toEqual(['10.77.0.30']);
    await until(() => pids().length === 2 && !pids().includes(victim));
  }, 20_000);
});
