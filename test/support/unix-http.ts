import { request } from 'node:http';

/** GET `url` over a unix socket (the infra containers' /metrics); rejects on a status other than 200. */
export function getUnix(socketPath: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: url, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}
