import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';

// Runs inside the namespace: unix socket → TCP host:port there.
const INNER = `
const net = require('net');
const [sock, host, port] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.pipe(u).pipe(c);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
}).listen(sock, () => process.stdout.write('ready\\n'));
`;

export interface Relay {
  /** http://127.0.0.1:PORT — reaches host:port inside the namespace. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Reaches a TCP service inside a network namespace from the test process (root
 * namespace) without adding any interface to the root namespace: a child in the
 * namespace listens on a unix socket (not namespaced) and connects on; the test
 * process listens on loopback and pipes into that socket.
 */
export async function openRelay(ns: string, host: string, port: number): Promise<Relay> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fr-relay-'));
  const sock = path.join(dir, 's');
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', INNER, sock, host, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`relay in ${ns} exited (${code})`)));
    child.stdout!.once('data', () => resolve());
  });
  const server = net.createServer((c) => {
    const u = net.connect(sock);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${p}`,
    port: p,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      child.kill('SIGKILL');
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
