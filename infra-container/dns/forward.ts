import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';

/** `10.0.0.1`, `10.0.0.1:5353`, `[fd00::1]:53` → host and port. */
export function parseUpstream(s: string): { host: string; port: number } {
  const v6 = /^\[(.+)\]:(\d+)$/.exec(s);
  if (v6) return { host: v6[1], port: Number(v6[2]) };
  if (isIP(s)) return { host: s, port: 53 };
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/**
 * Forwards a query to the configured upstreams in turn, each with its own
 * timeout, over a fresh socket with a fresh random ID (no spoofable shared
 * state). Resolves with the reply carrying the client's ID, or null.
 */
export async function forward(upstreams: string[], raw: Buffer, timeoutMs: number): Promise<Buffer | null> {
  for (const u of upstreams) {
    const reply = await askOne(parseUpstream(u), raw, timeoutMs).catch(() => null);
    if (reply) return reply;
  }
  return null;
}

function askOne(up: { host: string; port: number }, raw: Buffer, timeoutMs: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(isIP(up.host) === 6 ? 'udp6' : 'udp4');
    const id = randomInt(0, 0x10000);
    const out = Buffer.from(raw);
    out.writeUInt16BE(id, 0);
    const done = (r: Buffer | null): void => {
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    sock.on('error', () => done(null));
    sock.on('message', (msg, rinfo) => {
      if (msg.length < 12 || msg.readUInt16BE(0) !== id || rinfo.port !== up.port) return;
      msg.writeUInt16BE(raw.readUInt16BE(0), 0);
      done(msg);
    });
    sock.send(out, up.port, up.host, (err) => {
      if (err) done(null);
    });
  });
}
