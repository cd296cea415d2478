/**
 * The "outside world" for egress and published-port tests: a namespace `fro-<tag>` on its own
 * link to the underlay namespace (which routes between 198.18.0.0/24 and 198.18.1.0/24, like an
 * upstream router), with a web server that records each client address and a DNS resolver
 * answering `www.outside.test` with its own address. Nodes get a route to 198.18.1.0/24.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Namespaces, sh } from '../support/netns.js';
import type { Harness } from './harness.js';

export const OUTSIDE_IP = '198.18.1.1';
const UPSTREAM_IP = '198.18.1.254';
export const OUTSIDE_NAME = 'www.outside.test';

// a plain http server (port 8080, body names the client) and a one-record DNS server (port 53)
const SERVER = `
const http = require('node:http'), dgram = require('node:dgram');
http.createServer((q, s) => { console.log('http ' + q.socket.remoteAddress); s.end('hello from outside\\n'); }).listen(8080, '${OUTSIDE_IP}');
const d = dgram.createSocket('udp4');
d.on('message', (m, r) => {
  let p = 12; while (m[p]) p += m[p] + 1; const qEnd = p + 5;
  const head = Buffer.from(m.subarray(0, 12)); head.writeUInt16BE(0x8180, 2); head.writeUInt16BE(1, 6); head.writeUInt16BE(0, 8); head.writeUInt16BE(0, 10);
  const ans = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ${OUTSIDE_IP.split('.').join(', ')}]);
  console.log('dns ' + r.address);
  d.send(Buffer.concat([head, m.subarray(12, qEnd), ans]), r.port, r.address);
});
d.bind(53, '${OUTSIDE_IP}', () => console.log('ready'));
`;

export class Outside {
  readonly ns: string;
  /** Client addresses the web server and the resolver saw, in order. */
  readonly http: string[] = [];
  readonly dns: string[] = [];
  private readonly namespaces = new Namespaces();
  private server?: ChildProcess;

  private constructor(private readonly h: Harness) {
    this.ns = `fro-${h.tag}`;
  }

  static async start(h: Harness): Promise<Outside> {
    const o = new Outside(h);
    try {
      await o.build();
    } catch (e) {
      o.stop();
      throw e;
    }
    return o;
  }

  private async build(): Promise<void> {
    const { h, ns } = this;
    this.namespaces.add(ns);
    sh('ip', ['-n', h.underlay, 'link', 'add', 'out', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['-n', h.underlay, 'addr', 'add', `${UPSTREAM_IP}/24`, 'dev', 'out']);
    sh('ip', ['-n', h.underlay, 'link', 'set', 'out', 'up']);
    sh('ip', ['netns', 'exec', h.underlay, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    sh('ip', ['-n', ns, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', UPSTREAM_IP]);
    for (let i = 0; i < h.nodeCount; i++) sh('ip', ['-n', h.node(i).ns, 'route', 'replace', '198.18.1.0/24', 'via', '198.18.0.254']);
    this.server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: this.server!.stdout! });
      lines.on('line', (l) => {
        if (l === 'ready') resolve();
        else if (l.startsWith('http ')) this.http.push(l.slice(5).replace(/^::ffff:/, ''));
        else if (l.startsWith('dns ')) this.dns.push(l.slice(4));
      });
      this.server!.once('exit', (code) => reject(new Error(`outside server exited ${code}`)));
    });
  }

  /** A command in the outside namespace (curl to a published port). */
  exec(cmd: string, args: string[]): { status: number | null; stdout: string } {
    const r = this.h.exec(this.ns, cmd, args);
    return { status: r.status, stdout: r.stdout };
  }

  stop(): void {
    this.server?.kill('SIGKILL');
    this.namespaces.cleanup();
  }
}
