import http from 'node:http';

/**
 * POST JSON with a bearer token over a keep-alive agent (node:http: a lighter client than fetch,
 * so the client steals less CPU from the controller and PostgreSQL on a small machine).
 * Resolves on 201, rejects with the status and body otherwise.
 */
export function postJson(agent: http.Agent, base: string, token: string, path: string, body: unknown): Promise<void> {
  const target = new URL(base);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path,
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`POST ${path}: ${res.statusCode} ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
