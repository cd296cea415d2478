/**
 * Burst writer for bench/propagation.ts, in its own process like an API client: `count` container
 * creates (each with an endpoint on network `n` of tenant `bench`) through the REST API,
 * `concurrency` requests in flight, spread over the replicas' APIs. Says {type: 'up'} once loaded;
 * replies {t0, lastCommit, failed}.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { postJson } from './post.js';

const now = () => performance.timeOrigin + performance.now();

interface Job {
  bases: string[];
  adminToken: string;
  count: number;
  concurrency: number;
  prefix: string;
}

process.on('disconnect', () => process.exit(0));
process.send!({ type: 'up' }); // loaded: the parent counts this process's CPU from here
process.once('message', async (m: Job) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: m.concurrency });
  let next = 0;
  let lastCommit = 0;
  let failed = 0;
  let firstError = '';
  const t0 = now();
  await Promise.all(
    Array.from({ length: m.concurrency }, async (_, w) => {
      while (next < m.count) {
        const i = next++;
        try {
          await postJson(agent, m.bases[w % m.bases.length], m.adminToken, '/v1/tenants/bench/containers', {
            name: `${m.prefix}${i}`,
            image: 'busybox',
            networks: ['n'],
          });
        } catch (err) {
          failed++;
          firstError ||= String(err);
        }
        lastCommit = now();
      }
    }),
  );
  process.send!({ t0, lastCommit, failed, firstError });
  agent.destroy();
  process.exit(0);
});
