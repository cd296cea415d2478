import { spawn, type ChildProcess } from 'node:child_process';
import { sh } from '../support/netns.js';
import type { Cluster } from './cluster.js';

/** A static file server (what a yum repository needs), run inside the underlay namespace. */
const SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const [dir, host, port] = process.argv.slice(1);
http.createServer((req, res) => {
  const file = path.join(dir, path.normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)));
  fs.stat(file, (err, s) => {
    if (err || !s.isFile() || !file.startsWith(dir)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': s.size });
    fs.createReadStream(file).pipe(res);
  });
}).listen(Number(port), host, () => console.log('listening'));
`;

/**
 * Serves `dir` at http://IP:8080/ on the cluster's underlay, where the controller and every node
 * reach it; resolves once it listens.
 */
export async function serveRepo(c: Cluster, dir: string, ip: string): Promise<ChildProcess> {
  sh('ip', ['-n', c.h.underlay, 'addr', 'add', `${ip}/24`, 'dev', 'ul']);
  const server = spawn('ip', ['netns', 'exec', c.h.underlay, process.execPath, '-e', SERVER, dir, ip, '8080'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`repository server exited ${code}`)));
  });
  return server;
}
