/**
 * Test/bench driver: runs a ContainerRuntime inside a node namespace, commanded by JSON lines on
 * stdin, answering (and pushing status events) as JSON lines on stdout.
 * Start it with `nsenter --net=/run/netns/NODE npx tsx test/netns/runtime-driver.ts STATE PROJECT`:
 * only the network namespace changes, so the netns bind mounts and overlay mounts it makes live in
 * the host mount namespace, as they do for the real agent (`ip netns exec` would make them private
 * to this one process and a restarted driver could not see them).
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { ContainerRuntime } from '../../node-agent/runtime/runtime.js';

const [stateDir, projectDir] = process.argv.slice(2);
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const rt = await ContainerRuntime.open({
  stateDir,
  projectDir,
  log: pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2)),
  graceMs: Number(process.env.GRACE_MS ?? 3000),
  pollMs: 100,
  backoff: { baseMs: 300, capMs: 2000, stableMs: 10_000 },
  onStatus: (status) => out({ event: 'status', status }),
});
out({ event: 'ready' });

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const msg = JSON.parse(line) as { seq: number; cmd: string; desired?: never; id?: string; tail?: number };
  try {
    if (msg.cmd === 'apply') await rt.apply(msg.desired!);
    if (msg.cmd === 'close') {
      await rt.close();
      out({ seq: msg.seq, ok: true });
      process.exit(0);
    }
    const result =
      msg.cmd === 'logs' ? rt.logs(msg.id!, msg.tail ?? 100) : msg.cmd === 'state' ? (rt.state(msg.id!) ?? null) : rt.statuses();
    out({ seq: msg.seq, ok: true, result });
  } catch (e) {
    out({ seq: msg.seq, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
}
