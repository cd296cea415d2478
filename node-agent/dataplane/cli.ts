/**
 * Dataplane driver: runs a Dataplane in the calling process's network namespace
 * (`ip netns exec NODE node --import tsx node-agent/dataplane/cli.ts …`).
 *
 *   --node NAME --underlay-ip IP [--underlay-mtu N] [--audit-ms N] [--view FILE] [--physical-network NAME=IFACE]…
 *
 * stdin, one JSON object per line:
 *   {"cmd":"apply","view":NodeView} | {"cmd":"attach","ifname":"frh-…","network":ID}
 *   {"cmd":"audit"} | {"cmd":"metrics"} | {"cmd":"stop"}
 * stdout, one JSON object per line: {"type":"ready","capabilities":…},
 *   {"type":"result","cmd":…,"ops":[…],"errors":[…],"networkErrors":[…]}, {"type":"error",…}.
 * Logs (pino JSON) go to stderr. Ends on stdin EOF, "stop" or SIGTERM, never flushing state.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { NodeView } from '../../protocol/view.js';
import { Dataplane } from './dataplane.js';
import { parseMappings } from '../kernel/uplink.js';

function out(o: unknown): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

async function handle(dp: Dataplane, line: string): Promise<boolean> {
  const msg = JSON.parse(line) as { cmd?: string; view?: unknown; ifname?: string; network?: string };
  switch (msg.cmd) {
    case 'apply':
      out({ type: 'result', cmd: 'apply', ...(await dp.apply(NodeView.parse(msg.view))) });
      return true;
    case 'attach':
      out({ type: 'result', cmd: 'attach', ...((await dp.attach(String(msg.ifname), String(msg.network))) ?? {}) });
      return true;
    case 'audit':
      out({ type: 'result', cmd: 'audit', ...((await dp.audit('manual')) ?? {}) });
      return true;
    case 'metrics':
      out({ type: 'metrics', text: await dp.metrics() });
      return true;
    case 'stop':
      return false;
    default:
      out({ type: 'error', message: `unknown cmd ${String(msg.cmd)}` });
      return true;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      node: { type: 'string', default: 'node' },
      'underlay-ip': { type: 'string' },
      'underlay-mtu': { type: 'string', default: '1500' },
      'audit-ms': { type: 'string', default: '10000' },
      view: { type: 'string' },
      'physical-network': { type: 'string', multiple: true },
    },
  });
  if (!values['underlay-ip']) throw new Error('--underlay-ip is required');
  const log = pino({ base: { node: values.node } }, pino.destination(2));
  const dp = new Dataplane({
    node: values.node,
    underlayIp: values['underlay-ip'],
    underlayMtu: Number(values['underlay-mtu']),
    auditMs: Number(values['audit-ms']),
    physicalNetworks: parseMappings(values['physical-network'] ?? []),
    log,
  });
  await dp.start();
  out({ type: 'ready', capabilities: dp.capabilities });
  if (values.view)
    out({ type: 'result', cmd: 'apply', ...(await dp.apply(NodeView.parse(JSON.parse(readFileSync(values.view, 'utf8'))))) });
  const stop = (): void => {
    dp.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    try {
      if (!(await handle(dp, line))) break;
    } catch (e) {
      out({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  }
  stop();
}

main().catch((e: unknown) => {
  process.stderr.write(`dataplane: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
