/**
 * A push-only controller in its own process, for tests that measure the controller (RSS) apart from
 * the test's own memory. Run: `node --import tsx test/netns/push-controller.ts` with IPC; it reads
 * {databaseUrl, options} from the first IPC message, answers {type: 'ready', url, ca}, then answers
 * {type: 'metrics'} with the hub's metrics text and its RSS, {type: 'retained'} with the memory still
 * referenced after a GC (run it with --expose-gc), and exits on {type: 'stop'}.
 */
import { openDb } from '../../controller/store/db.js';
import type { PushOptions } from '../../controller/push/index.js';
import { startController, TEST_TLS } from './push-harness.js';

process.once('message', async (init: { databaseUrl: string; options: PushOptions }) => {
  const db = await openDb({ databaseUrl: init.databaseUrl });
  const c = await startController(db, init.options);
  process.on('message', async (m: { type: string }) => {
    if (m.type === 'metrics') void c.hub.metrics().then((text) => process.send!({ type: 'metrics', text, rss: process.memoryUsage().rss }));
    if (m.type === 'retained') {
      // what stays referenced (socket buffers included) once garbage is collected
      (globalThis as { gc?: () => void }).gc?.();
      const u = process.memoryUsage();
      process.send!({ type: 'retained', bytes: u.heapUsed + u.external });
    }
    if (m.type === 'stop') {
      await c.close();
      await db.close();
      process.exit(0);
    }
  });
  // this process made its own test CA: the client must trust that one
  process.send!({ type: 'ready', url: c.url, ca: TEST_TLS.ca });
});
