/** Observations of the kernel and of traffic, through the real tools (ip, ping, tcpdump). */
import { spawn, spawnSync } from 'node:child_process';
import { sh } from '../../support/netns.js';

/** One ping; true when answered. */
export function pingOnce(ns: string, to: string, opts: { size?: number; df?: boolean; wait?: number } = {}): boolean {
  const args = ['-n', '-c', '1', '-W', String(opts.wait ?? 2)];
  if (opts.size !== undefined) args.push('-s', String(opts.size));
  if (opts.df) args.push('-M', 'do');
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', ...args, to], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0;
}

/** Pings until one answer (the first packets may wait for ARP), then `count` more must all be answered. */
export function pingWorks(ns: string, to: string, count = 3): boolean {
  let up = false;
  for (let i = 0; i < 5 && !up; i++) up = pingOnce(ns, to);
  if (!up) return false;
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', String(count), '-i', '0.2', '-W', '2', to], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return r.status === 0 && new RegExp(`${count} received`).test(r.stdout);
}

export interface PingRun {
  /** stops ping (SIGINT) and reports: sent, answered, and the sequence numbers never answered (the last one, possibly in flight, excluded) */
  stop(): Promise<{ sent: number; received: number; lost: number[]; output: string }>;
}

/** A continuous ping at `rate` packets/s in the background, until stop(). */
export function pingContinuous(ns: string, to: string, rate = 10): PingRun {
  const p = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-i', String(1 / rate), to]);
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<void>((resolve) => p.on('close', () => resolve()));
  return {
    async stop() {
      p.kill('SIGINT');
      await ended;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      const sent = Number(m?.[1] ?? 0);
      const got = new Set([...out.matchAll(/icmp_seq=(\d+) ttl=/g)].map((x) => Number(x[1])));
      const lost: number[] = [];
      for (let seq = 1; seq < sent; seq++) if (!got.has(seq)) lost.push(seq);
      return { sent, received: Number(m?.[2] ?? 0), lost, output: out };
    },
  };
}

export interface XfrmState {
  src: string;
  dst: string;
  spi: number;
  packets: number;
}

/** `ip -s xfrm state` of a namespace, parsed: addresses, SPI, packet counter. */
export function xfrmStates(ns: string): XfrmState[] {
  const out = sh('ip', ['-s', 'xfrm', 'state'], { ns });
  const states: XfrmState[] = [];
  for (const block of out.split(/^(?=src )/m).filter((b) => b.startsWith('src '))) {
    const head = /^src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)/m.exec(block);
    const cur = /lifetime current:\s*\n\s*(\d+)\(bytes\), (\d+)\(packets\)/.exec(block);
    if (!head) continue;
    states.push({ src: head[1], dst: head[2], spi: Number(head[3]), packets: Number(cur?.[2] ?? 0) });
  }
  return states;
}

export interface Capture {
  /** stops the capture and returns tcpdump's one-line-per-packet text */
  stop(): Promise<string>;
}

/** tcpdump -nn on an interface of a namespace; wait for it to be listening before sending. */
export async function capture(ns: string, ifname: string, filter: string[] = []): Promise<Capture> {
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-l', '-nn', '-i', ifname, ...filter]);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<void>((resolve) => p.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tcpdump on ${ns}/${ifname} did not start: ${err}`)), 20_000);
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 300));
      p.kill('SIGINT');
      await ended;
      return out;
    },
  };
}
