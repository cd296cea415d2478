/**
 * A hostile DNS-over-TCP client (issue 13, finding 7) against the real infra server run as
 * its own process (node infra-container/main.ts), its memory read from /proc/PID/status:
 * pipelining 50 MB of queries without reading made it buffer every reply (+282 MB RSS in
 * the issue); now it stops reading that connection, stays within a bound and keeps
 * answering other clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeConfigAtomic } from '../config.js';
import { sampleConfig } from '../../test/support/infra-config.js';
import { TYPE } from './constants.js';
import { encodeQuery } from '../../test/support/dns-message.js';
import { decodeAnswer } from '../../test/support/dns.js';

/** The bound this test holds the server to: RSS growth during the attack. */
const RSS_BOUND_MB = 64;
const ATTACK_BYTES = 50 << 20;

const dir = mkdtempSync(path.join(tmpdir(), 'fr-dns-tcp-'));
let server: ChildProcess;
let port = 0;

const rssMb = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) / 1024;
const frame = (q: Buffer): Buffer => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One query over a fresh TCP connection from `localAddress`; resolves with the answer's A records. */
function tcpQuery(localAddress: string, timeoutMs = 3000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => (s.destroy(), reject(new Error(`tcp query from ${localAddress} timed out`))), timeoutMs);
    s.on('error', (e) => (clearTimeout(t), reject(e)));
    s.on('connect', () => s.write(frame(encodeQuery('web', TYPE.A, { id: 7 }))));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      clearTimeout(t);
      s.destroy();
      resolve(
        decodeAnswer(buf.subarray(2))
          .answers.filter((r) => r.type === TYPE.A)
          .map((r) => r.data),
      );
    });
  });
}

function udpQuery(timeoutMs = 3000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => (s.close(), reject(new Error('udp query timed out'))), timeoutMs);
    s.on(
      'message',
      (m) => (
        clearTimeout(t),
        s.close(),
        resolve(
          decodeAnswer(m)
            .answers.filter((r) => r.type === TYPE.A)
            .map((r) => r.data),
        )
      ),
    );
    s.send(encodeQuery('web', TYPE.A, { id: 9 }), port, '127.0.0.1');
  });
}

beforeAll(async () => {
  const config = path.join(dir, 'infra.json');
  await writeConfigAtomic(config, sampleConfig());
  server = spawn(
    process.execPath,
    ['--import', 'tsx', 'infra-container/main.ts', '--config', config, '--dns-port', '0', '--no-dhcp', '--listen', '127.0.0.1'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"dnsPort":(\d+).*freight-infra ready/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.once('exit', (code) => reject(new Error(`infra server exited ${code}: ${out}`)));
  });
  server.stdout!.resume();
}, 30_000);

afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('DNS over TCP against a client that never reads', () => {
  it(`pipelining ${ATTACK_BYTES >> 20} MB of queries: RSS stays under +${RSS_BOUND_MB} MB and other clients are answered`, async () => {
    for (let i = 0; i < 20; i++) await tcpQuery('127.0.0.2'); // warm up (JIT, buffers) before the baseline
    await sleep(300);
    const before = rssMb();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 50);

    const q = frame(encodeQuery('web', TYPE.A, { id: 1 }));
    const chunk = Buffer.concat(Array.from({ length: Math.ceil((1 << 20) / q.length) }, () => q));
    const hostile = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    hostile.pause(); // never reads a reply
    hostile.on('error', () => {});
    await new Promise((r) => hostile.once('connect', r));
    let offered = 0;
    const deadline = Date.now() + 25_000;
    const attack = (async () => {
      while (offered < ATTACK_BYTES && Date.now() < deadline && !hostile.destroyed) {
        offered += chunk.length;
        if (!hostile.write(chunk)) {
          // the server stopped reading: wait for room, give up when none comes
          const drained = await Promise.race([new Promise((r) => hostile.once('drain', () => r(true))), sleep(3000).then(() => false)]);
          if (!drained) break;
        }
      }
    })();
    await sleep(1500);
    // meanwhile: a neighbour (another address) over TCP and anyone over UDP are answered
    expect(await tcpQuery('127.0.0.2')).toEqual(['10.77.0.10']);
    expect(await udpQuery()).toEqual(['10.77.0.10']);
    await attack;
    await sleep(500);
    clearInterval(sampler);
    const accepted = hostile.bytesWritten - hostile.writableLength;
    hostile.destroy();
    console.log(
      `dns tcp attack: offered ${(offered / 2 ** 20).toFixed(0)} MB, kernel took ${(accepted / 2 ** 20).toFixed(1)} MB; server RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB (+${(peak - before).toFixed(1)})`,
    );
    expect(peak - before).toBeLessThan(RSS_BOUND_MB);
    expect(await tcpQuery('127.0.0.2')).toEqual(['10.77.0.10']);
  }, 60_000);

  it('120 such connections from 16 addresses (near the 128 total): RSS still under the bound, neighbours answered', async () => {
    const before = rssMb();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 50);
    const q = frame(encodeQuery('web', TYPE.A, { id: 1 }));
    const chunk = Buffer.concat(Array.from({ length: Math.ceil((1 << 20) / q.length) }, () => q));
    const socks: net.Socket[] = [];
    for (let i = 0; i < 120; i++) {
      const s = net.connect({ host: '127.0.0.1', port, localAddress: `127.0.1.${10 + (i % 16)}` });
      s.pause();
      s.on('error', () => {});
      socks.push(s);
      s.once('connect', () => {
        for (let k = 0; k < 4; k++) s.write(chunk);
      });
    }
    await sleep(3000);
    expect(await tcpQuery('127.0.0.2')).toEqual(['10.77.0.10']);
    expect(await udpQuery()).toEqual(['10.77.0.10']);
    clearInterval(sampler);
    for (const s of socks) s.destroy();
    await sleep(500); // the server sees the closes before the next test counts connections
    console.log(
      `dns tcp: 120 connections × 4 MB unread: server RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB (+${(peak - before).toFixed(1)})`,
    );
    expect(peak - before).toBeLessThan(RSS_BOUND_MB);
  }, 30_000);

  it('caps connections per client address; other addresses still connect', async () => {
    const socks: net.Socket[] = [];
    const closed: boolean[] = [];
    for (let i = 0; i < 12; i++) {
      const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
      s.on('error', () => {});
      const idx = socks.push(s) - 1;
      closed[idx] = false;
      s.on('close', () => (closed[idx] = true));
      await new Promise((r) => s.once('connect', r));
    }
    await sleep(300);
    expect(closed.filter(Boolean).length).toBe(4); // 8 per address (DEFAULT_TCP_LIMITS.maxPerClient)
    expect(await tcpQuery('127.0.0.2')).toEqual(['10.77.0.10']);
    for (const s of socks) s.destroy();
  });
});
