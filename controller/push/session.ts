import type { WebSocket } from 'ws';
import type { ControllerMessage } from '../../protocol/stream.js';
import { emptyView, type NodeView } from '../../protocol/view.js';
import { PushError } from './errors.js';

interface PendingLogs { resolve(text: string): void; reject(err: Error): void; timer: NodeJS.Timeout }

/** The controller's side of one agent connection. */
export class AgentConn {
  /** Set by hello; until then the connection gets no deltas or pings. */
  node?: string;
  nodeId?: string;
  live = false;
  /** A valid hello arrived (it may still be being answered). */
  helloSeen = false;
  /** What the agent holds once it applied everything sent (the base of live diffs). */
  sent: NodeView = emptyView('', '0.0.0.0');
  /** The revision the agent will be at after everything sent: the `from` of the next delta. */
  position = 0;
  /** Last revision sent (delta, snapshot or ping) and last acknowledged. */
  desired = 0;
  applied = 0;
  lastMessageAt: number;
  /** News for the nodes table since the last flush. */
  seen = false;
  dirty = false;
  bytesSent = 0;
  networkErrors: Array<{ network: string; message: string }> = [];
  readonly logs = new Map<string, PendingLogs>();

  constructor(readonly ws: WebSocket, readonly tokenNode: string, now: number) {
    this.lastMessageAt = now;
  }

  send(msg: ControllerMessage): void {
    this.sendText(JSON.stringify(msg));
  }

  /** Sends already-serialised JSON (deltas are assembled from per-op strings shared by all sessions). */
  sendText(text: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.bytesSent += Buffer.byteLength(text);
    this.ws.send(text);
  }

  /** Sends an error and closes: used for anything the agent did wrong. */
  fail(code: string, message: string): void {
    this.send({ type: 'error', code, message });
    this.ws.close(1008, code.slice(0, 100));
  }

  heard(now: number): void {
    this.lastMessageAt = now;
    this.seen = true;
    this.dirty = true;
  }

  dropLogs(): void {
    for (const p of this.logs.values()) {
      clearTimeout(p.timer);
      p.reject(new PushError('node_unavailable', `logs from node ${this.node}: connection closed`));
    }
    this.logs.clear();
  }
}
