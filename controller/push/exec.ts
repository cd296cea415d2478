import { randomUUID } from 'node:crypto';
import type { AgentMessage } from '../../protocol/stream.js';
import type { ExecStart } from '../../protocol/exec.js';
import type { ExecHandle, ExecRelaySink } from './exec-sink.js';
import type { PushCore } from './core.js';
import { PushError } from './errors.js';

export type { ExecHandle, ExecRelaySink } from './exec-sink.js';
import type { AgentConn } from './session.js';

/** Starts an exec on the node's live stream; node_unavailable when it has none. */
export function startExec(core: PushCore, node: string, container: string, req: ExecStart, sink: ExecRelaySink): ExecHandle {
  const c = core.byNode.get(node);
  if (!c || !c.live) throw new PushError('node_unavailable', `exec in ${container}: node ${node} is not connected`);
  const execId = randomUUID();
  c.execs.set(execId, sink);
  c.send({ type: 'exec', execId, container, argv: req.argv, tty: req.tty, ...(req.size ? { size: req.size } : {}) });
  return {
    input: (data, eof) => void c.send({ type: 'exec-input', execId, ...(data ? { data } : {}), ...(eof ? { eof } : {}) }),
    resize: (size) => void c.send({ type: 'exec-resize', execId, size }),
    kill: () => {
      if (c.execs.delete(execId)) c.send({ type: 'exec-kill', execId });
    },
  };
}

type ExecMessage = Extract<AgentMessage, { type: 'exec-started' | 'exec-output' | 'exec-exit' }>;

/** An agent's exec event, to the exec it belongs to (unknown ids: an exec already ended here, ignored). */
export function onExecMessage(c: AgentConn, msg: ExecMessage): void {
  const sink = c.execs.get(msg.execId);
  if (!sink) return;
  if (msg.type === 'exec-started') return sink.started();
  if (msg.type === 'exec-output') return sink.output(msg.stream, msg.data);
  c.execs.delete(msg.execId);
  sink.exit({ code: msg.code, signal: msg.signal, ...(msg.error ? { error: msg.error } : {}) });
}

/** The stream closed: every exec on it ends with node_unavailable. */
export function dropExecs(c: AgentConn): void {
  for (const sink of c.execs.values()) {
    sink.exit({
      code: null,
      signal: null,
      error: { code: 'node_unavailable', message: `node ${c.node ?? c.tokenNode}: connection closed` },
    });
  }
  c.execs.clear();
}
