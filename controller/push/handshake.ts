import { AgentMessage } from '../../protocol/stream.js';
import { compileView, type FloodMemo } from '../view/compile.js';
import { heldOf, resumeOps } from '../view/diff.js';
import { catchUpNow } from './catch-up.js';
import type { PushCore } from './core.js';
import { PushError } from './errors.js';
import { helloNode, saveStatus } from './nodes.js';
import type { AgentConn } from './session.js';
import { sendDelta, snapshotJson } from './wire.js';
import { resumeRows } from './resume-rows.js';
import { OPS1 } from '../../protocol/compact-ops.js';
import { onExecMessage } from './exec.js';

type Hello = Extract<AgentMessage, { type: 'hello' }>;

/** One message from an agent: validated (a bad one fails the stream), then the hello, acks, status, log answers. */
export async function onAgentMessage(core: PushCore, c: AgentConn, text: string): Promise<void> {
  if (c.ended) return;
  let msg: AgentMessage;
  try {
    const parsed = AgentMessage.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    msg = parsed.data;
  } catch (err) {
    c.fail('bad_message', `agent stream of ${c.tokenNode}: invalid message: ${(err as Error).message}`.slice(0, 500));
    return;
  }
  c.heard(core.opts.clock.now());
  if (msg.type === 'hello') return onHello(core, c, msg);
  // pings and acks may arrive while the hello is still being answered
  if (!c.helloSeen) return c.fail('bad_message', `agent stream of ${c.tokenNode}: ${msg.type} before hello`);
  switch (msg.type) {
    case 'ack':
      core.observeAck(c, msg.revision);
      c.acked(msg.revision);
      return;
    case 'ping':
      c.peerEvery = msg.every;
      return;
    case 'status':
      c.networkErrors = msg.networkErrors;
      await saveStatus(core.db, c.tokenNode, msg.containers).catch((err) =>
        core.log.warn({ node: c.tokenNode, err }, 'save container status failed'),
      );
      return;
    case 'logs': {
      const p = c.logs.get(msg.requestId);
      if (!p) return;
      c.logs.delete(msg.requestId);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new PushError('node_unavailable', `logs from node ${c.tokenNode}: ${msg.error}`));
      else p.resolve(msg.text);
      return;
    }
    case 'packages': {
      const p = c.logs.get(msg.requestId);
      if (!p) return;
      c.logs.delete(msg.requestId);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new PushError('node_unavailable', `packages from node ${c.tokenNode}: ${msg.error}`));
      else p.resolve({ packages: msg.packages, invalid: msg.invalid, truncated: msg.truncated });
      return;
    }
    case 'sg-stats': {
      const p = c.logs.get(msg.requestId);
      if (!p) return;
      c.logs.delete(msg.requestId);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new PushError('node_unavailable', `sg stats from node ${c.tokenNode}: ${msg.error}`));
      else p.resolve(msg.rules);
      return;
    }
    case 'infra-counters': {
      const p = c.logs.get(msg.requestId);
      if (!p) return;
      c.logs.delete(msg.requestId);
      clearTimeout(p.timer);
      if (msg.error || !msg.counters)
        p.reject(new PushError('node_unavailable', `infra counters from node ${c.tokenNode}: ${msg.error ?? 'no counters'}`));
      else p.resolve(msg.counters);
      return;
    }
    case 'exec-started':
    case 'exec-output':
    case 'exec-exit':
      return onExecMessage(c, msg);
  }
}

async function onHello(core: PushCore, c: AgentConn, h: Hello): Promise<void> {
  if (c.helloSeen) return c.fail('bad_message', `agent stream of ${c.tokenNode}: second hello`);
  if (h.node !== c.tokenNode) {
    return c.fail('forbidden', `hello as node ${h.node}: the token belongs to node ${c.tokenNode}`);
  }
  c.helloSeen = true;
  c.compact = h.encodings?.includes(OPS1) ?? false;
  c.infraCounters = h.requests?.includes('infra-counters') ?? false;
  let known: { moved: boolean } | undefined;
  try {
    known = await helloNode(core.db, h, c.tokenId);
  } catch (err) {
    return c.fail('unavailable', `register node ${h.node}: ${String((err as Error).message ?? err)}`.slice(0, 500));
  }
  if (c.ended) return;
  // node rows are made by an admin (creating the node's token), never by an agent
  if (!known)
    return c.fail('not_registered', `node ${h.node} is not registered (deleted, or its token revoked): create a node token for it`);
  try {
    // a hello that moved the node wrote a change: the model must have it before the view is compiled
    await core.serial.run(() => resume(core, c, h, known.moved));
  } catch (err) {
    return c.fail('unavailable', `resume node ${h.node}: ${String((err as Error).message ?? err)}`.slice(0, 500));
  }
  // the node turns ready (and onNodeReady runs) at the next flush (controller/push/acks.ts)
}

/** Flood lists of the model at its cursor, shared by the hellos answered before it moves (a sort of every host per hello otherwise). */
function floodMemo(core: PushCore): FloodMemo {
  if (core.floodMemo?.cursor !== core.model.cursor) core.floodMemo = { cursor: core.model.cursor, memo: new Map() };
  return core.floodMemo.memo;
}

/** Inside the queue: answer a hello at `h.revision` with a delta, a snapshot or nothing. */
async function resume(core: PushCore, c: AgentConn, h: Hello, wrote: boolean): Promise<void> {
  if (c.ended || c.ws.readyState !== c.ws.OPEN) return;
  const { model, opts } = core;
  // Catch up first only when the model may lack what the agent holds or what its hello wrote: an
  // agent at or behind the cursor is answered consistently at the cursor, and whatever commits
  // meanwhile reaches it as a live delta. A storm of reconnects then costs no log read per agent.
  if (wrote || h.revision > model.cursor || !model.state.nodeIdByName.has(h.node)) await catchUpNow(core);
  const nodeId = model.state.nodeIdByName.get(h.node);
  const r = h.revision;
  let mode: 'snapshot' | 'delta' | 'current' = 'snapshot';
  let rows = await resumeRows(core, r);
  // an agent that dropped deltas, or that this replica dropped past the high-water mark, gets a snapshot
  if (h.resync || core.resyncNodes.has(h.node)) rows = undefined;
  if (rows) mode = r === model.cursor ? 'current' : 'delta';
  if (c.ended || c.ws.readyState !== c.ws.OPEN) return;
  // only a snapshot carries the endpoints: a storm of resumes onto a big network compiles no endpoint
  const cur = compileView(model.state, h.node, model.cursor, floodMemo(core), mode === 'snapshot');
  core.resyncNodes.delete(h.node);
  const old = core.byNode.get(h.node);
  if (old && old !== c) old.ws.close(1000, 'replaced by a new connection');
  c.node = h.node;
  c.nodeId = nodeId;
  c.sent = heldOf(cur);
  if (mode === 'snapshot') {
    const text = snapshotJson(cur, model.cursor);
    c.sendText(text);
    // after the send: sendText drops the allowance while the buffer is below the mark, as it was
    // just before this snapshot went in (set before, the next message found it gone and dropped us)
    c.snapshotBytes = Buffer.byteLength(text);
    c.position = c.desired = model.cursor;
    core.counters.snapshots++;
  } else {
    const ops = nodeId ? resumeOps(model.state, nodeId, rows ?? [], cur) : [];
    c.position = r;
    c.desired = r;
    sendDelta(c, ops, model.cursor, core.counters);
  }
  c.applied = Math.max(c.applied, r);
  c.dirty = true;
  c.live = true;
  core.byNode.set(h.node, c);
  // at once, not at the next tick: the agent learns our interval before judging our silence on its own
  c.send({ type: 'ping', revision: c.position, t: opts.clock.now(), every: opts.heartbeatMs });
  core.log.info({ node: h.node, from: r, revision: model.cursor, mode }, 'agent resumed');
}
