import pino, { type Logger } from 'pino';
import WebSocket from 'ws';
import {
  ControllerMessage,
  HEARTBEAT_MS,
  silenceMs,
  type AgentMessage,
  type Capabilities,
  type ContainerStatus,
  type InfraCounters,
  type NetworkError,
  type PackageRecord,
} from '../../protocol/stream.js';
import { applyOps, emptyView, type NodeView, type ViewOp } from '../../protocol/view.js';
import { decodeMessage, OPS1 } from '../../protocol/compact-ops.js';
import { backoffDelay } from './backoff.js';
import { loadView, saveView } from './store.js';
import { Serial } from '../../lib/serial.js';
import type { ExecSize } from '../../protocol/exec.js';
import type { ExecRequest, ExecSink } from '../runtime/exec.js';

/** The node's execs, as the stream drives them (runtime/exec.ts). */
export interface ExecPort {
  start(execId: string, req: ExecRequest, sink: ExecSink): void;
  input(execId: string, data?: Buffer, eof?: boolean): void;
  resize(execId: string, size: ExecSize): void;
  kill(execId: string): void;
  killAll(): void;
}

/** Past this many bytes queued towards the controller, an exec's output ends it (the controller does not read). */
const EXEC_BACKLOG_BYTES = 8 * 1024 * 1024;

export interface AgentSessionOptions {
  /** wss://host:port/v1/agent/stream (ws:// only with allowPlaintext) */
  url: string;
  /**
   * More replicas' stream URLs: every reconnect moves to the next (url first), so a replica that
   * is down or restarting costs one backoff step, and its agents spread over the others.
   */
  urls?: string[];
  /** TLS: the CA to verify the controller against (default: the system's CAs). */
  tls?: { ca?: string };
  /** Permit a ws:// URL (`--insecure`); refused otherwise. */
  allowPlaintext?: boolean;
  token: string;
  node: string;
  underlayIp: string;
  underlayMtu: number;
  capabilities: Capabilities;
  /** Where view.json (the last applied view and its revision) lives. */
  stateDir: string;
  /** Applies a view to the node (dataplane, runtime). Only after it resolves is the view persisted and acked. */
  onView(view: NodeView, ops?: ViewOp[]): Promise<void>;
  onLogs?(container: string, tail: number): Promise<string>;
  /** Packets and bytes of these security group rules, read from nft now. */
  onSgStats?(rules: string[]): Record<string, { packets: number; bytes: number }>;
  /** The packages of a container's root (its rpm database, read, never run). */
  onPackages?(container: string): Promise<{ packages: PackageRecord[]; invalid: number; truncated: boolean }>;
  /** The DHCP/DNS counters of an infra instance (its /metrics, scraped now). */
  onInfraCounters?(container: string): Promise<InfraCounters>;
  /** `container exec` (docs/push.md); without it exec requests are answered exec_unsupported. */
  exec?: ExecPort;
  /** Called after each persisted revision (snapshot, delta or heartbeat). */
  onApplied?(revision: number, how: 'snapshot' | 'delta' | 'ping'): void;
  clock?: { now(): number };
  heartbeatMs?: number;
  missedHeartbeats?: number;
  backoff?: { minMs: number; maxMs: number };
  /**
   * Bound of the inbound queue (bytes of received messages not yet being handled, default 64 MiB).
   * Past it the queued messages are dropped and the agent reconnects asking for a snapshot.
   */
  maxQueuedBytes?: number;
  log?: Logger;
}

export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * The agent's stream to the controller: hello with the last applied revision,
 * apply snapshots and in-order deltas, persist, then ack; reconnect with backoff.
 * Nothing is flushed while disconnected: the node keeps running what it has.
 */
export class AgentSession {
  private view: NodeView;
  private ws?: WebSocket;
  /** Incremented per connection: messages of an older connection are dropped. */
  private gen = 0;
  private attempt = 0;
  private readonly inbound = new Serial();
  private lastHeard = 0;
  /** The controller's heartbeat interval, from its pings: silence is judged on it, not on ours. */
  private peerEvery?: number;
  private beat?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private stopped = true;
  private readonly log: Logger;
  private readonly clock: { now(): number };
  private readonly hb: number;
  private readonly maxQueued: number;
  /** The next hello asks for a snapshot (we dropped messages we could not keep up with). */
  private resyncNext = false;
  /** Messages received and not yet handled (the one being handled included). */
  private inQueue = 0;
  /** Times the inbound queue went past its bound. */
  overflows = 0;
  /** Most bytes ever waiting in the inbound queue. */
  queuedPeak = 0;

  /** url, then urls; `at` is the one in use */
  private readonly urls: string[];
  private at = 0;

  constructor(private readonly o: AgentSessionOptions) {
    this.urls = [...new Set([o.url, ...(o.urls ?? [])])];
    for (const url of this.urls)
      if (!url.startsWith('wss:') && !o.allowPlaintext)
        throw new Error(`agent stream ${url}: plaintext refused (wss:// expected; allowPlaintext is --insecure)`);
    this.view = emptyView(o.node, o.underlayIp);
    this.log = (o.log ?? pino({ level: 'silent' })).child({ node: o.node, module: 'session' });
    this.clock = o.clock ?? { now: () => Date.now() };
    this.hb = o.heartbeatMs ?? HEARTBEAT_MS;
    this.maxQueued = o.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  }

  /** The last applied (and persisted) revision. */
  get revision(): number {
    return this.view.revision;
  }

  get currentView(): NodeView {
    return this.view;
  }

  /** The stream URL in use (or tried next). */
  get url(): string {
    return this.urls[this.at];
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  async start(): Promise<void> {
    const saved = await loadView(this.o.stateDir);
    if (saved && saved.node === this.o.node) this.view = saved;
    this.stopped = false;
    this.beat = setInterval(() => this.heartbeat(), this.hb);
    this.connect();
  }

  /** Closes the stream; what is installed stays (no flush). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.gen++;
    clearInterval(this.beat);
    clearTimeout(this.reconnectTimer);
    this.ws?.terminate();
    await this.inbound.idle();
  }

  /** Reports container states and per-network errors; false when not connected (report again later). */
  sendStatus(containers: ContainerStatus[], networkErrors: NetworkError[] = []): boolean {
    return this.send({ type: 'status', containers, networkErrors });
  }

  private send(msg: AgentMessage): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  private connect(): void {
    if (this.stopped) return;
    const gen = ++this.gen;
    const url = this.urls[this.at];
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.o.token}` },
      handshakeTimeout: 5000,
      ...(url.startsWith('wss:') ? { ca: this.o.tls?.ca, rejectUnauthorized: true } : {}),
    });
    this.ws = ws;
    ws.on('open', () => {
      this.lastHeard = this.clock.now();
      // behind what the previous connection still applies: a commit finishing after the hello
      // would leave the controller resuming from a revision we have already moved past
      void this.inbound.run(() => {
        if (gen !== this.gen) return;
        this.send({
          type: 'hello',
          node: this.o.node,
          underlayIp: this.o.underlayIp,
          revision: this.view.revision,
          capabilities: this.o.capabilities,
          underlayMtu: this.o.underlayMtu,
          ...(this.resyncNext ? { resync: true } : {}),
          encodings: [OPS1],
          ...(this.o.onInfraCounters ? { requests: ['infra-counters'] } : {}),
        });
      });
    });
    // bytes received on this connection that wait behind a message being handled
    let waiting = 0;
    ws.on('message', (data) => {
      if (gen !== this.gen) return;
      this.lastHeard = this.clock.now();
      const text = data.toString();
      // a message that starts at once does not wait (a snapshot may be larger than the bound)
      const size = this.inQueue > 0 ? text.length : 0;
      waiting += size;
      this.queuedPeak = Math.max(this.queuedPeak, waiting);
      if (waiting > this.maxQueued) return this.overflow(gen, waiting);
      this.inQueue++;
      void this.inbound.run(() =>
        Promise.resolve()
          .then(() => {
            waiting -= size;
            return this.handle(gen, text);
          })
          .catch((err) => this.resync(gen, `handle: ${String(err)}`))
          .finally(() => void this.inQueue--),
      );
    });
    // a TLS verification failure is worth an operator's attention; other errors are the usual reconnects
    ws.on('error', (err) =>
      this.log[/certificate|altnames|self.signed|verify/i.test(String(err)) ? 'error' : 'debug']({ err }, 'stream error'),
    );
    ws.on('close', () => {
      // nobody reads an exec's output any more: end them all
      this.o.exec?.killAll();
      if (gen !== this.gen || this.stopped) return;
      this.gen++;
      this.reconnect('stream closed: reconnecting');
    });
  }

  private reconnect(why: string): void {
    const delay = backoffDelay(this.attempt++, this.o.backoff?.minMs ?? 250, this.o.backoff?.maxMs ?? 10_000);
    this.at = (this.at + 1) % this.urls.length;
    this.log.info({ delay, ...(this.urls.length > 1 ? { next: this.urls[this.at] } : {}) }, why);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * The inbound queue went past its bound: drop what is queued (the connection's generation ends, so
   * queued messages are skipped), reconnect, and ask for a snapshot. What is applied stays applied.
   */
  private overflow(gen: number, bytes: number): void {
    if (gen !== this.gen || this.stopped) return;
    this.overflows++;
    this.resyncNext = true;
    this.gen++;
    this.log.warn(
      { queued: bytes, bound: this.maxQueued, revision: this.view.revision },
      'inbound queue full: dropping it and resyncing by snapshot',
    );
    this.ws?.terminate();
    this.reconnect('reconnecting for a snapshot');
  }

  /** Drops the connection; the next hello carries our revision, so the controller resends what we miss. */
  private resync(gen: number, why: string): void {
    if (gen !== this.gen) return;
    this.log.warn({ why, revision: this.view.revision }, 'resync');
    this.ws?.terminate();
  }

  private async handle(gen: number, text: string): Promise<void> {
    if (gen !== this.gen) return;
    const parsed = ControllerMessage.safeParse(decodeMessage(JSON.parse(text)));
    if (!parsed.success) return this.resync(gen, `invalid message: ${parsed.error.issues[0]?.message}`);
    const msg = parsed.data;
    this.attempt = 0;
    switch (msg.type) {
      case 'snapshot':
        return this.commit(gen, { ...msg.view, revision: msg.revision }, undefined, 'snapshot');
      case 'delta':
        if (msg.from !== this.view.revision) return this.resync(gen, `delta from ${msg.from}, we are at ${this.view.revision}`);
        return this.commit(gen, applyOps(this.view, msg.ops, msg.revision), msg.ops, 'delta');
      case 'ping':
        this.peerEvery = msg.every;
        // everything before the ping is applied (messages are handled in order): adopt its revision
        if (msg.revision > this.view.revision) return this.commit(gen, { ...this.view, revision: msg.revision }, [], 'ping');
        this.send({ type: 'ack', revision: this.view.revision });
        return;
      case 'logs':
        void this.answerLogs(msg.requestId, msg.container, msg.tail);
        return;
      case 'packages':
        void this.answerPackages(msg.requestId, msg.container);
        return;
      case 'infra-counters':
        void this.answerInfraCounters(msg.requestId, msg.container);
        return;
      case 'sg-stats':
        try {
          if (!this.o.onSgStats) throw new Error('sg stats not supported by this agent');
          this.send({ type: 'sg-stats', requestId: msg.requestId, rules: this.o.onSgStats(msg.rules) });
        } catch (err) {
          this.send({ type: 'sg-stats', requestId: msg.requestId, rules: {}, error: String((err as Error).message ?? err).slice(0, 2000) });
        }
        return;
      case 'error':
        this.log.warn({ code: msg.code, message: msg.message }, 'controller refused');
        return;
      case 'exec':
        return this.startExec(msg);
      case 'exec-input':
        return this.o.exec?.input(msg.execId, msg.data ? Buffer.from(msg.data, 'base64') : undefined, msg.eof);
      case 'exec-resize':
        return this.o.exec?.resize(msg.execId, msg.size);
      case 'exec-kill':
        return this.o.exec?.kill(msg.execId);
    }
  }

  private startExec(msg: Extract<ControllerMessage, { type: 'exec' }>): void {
    const { execId } = msg;
    const exec = this.o.exec;
    if (!exec) {
      this.send({
        type: 'exec-exit',
        execId,
        code: null,
        signal: null,
        error: { code: 'exec_unsupported', message: 'exec not supported by this agent' },
      });
      return;
    }
    exec.start(
      execId,
      { container: msg.container, argv: msg.argv, tty: msg.tty, size: msg.size },
      {
        started: () => void this.send({ type: 'exec-started', execId }),
        output: (stream, data) => {
          if ((this.ws?.bufferedAmount ?? 0) > EXEC_BACKLOG_BYTES) return exec.kill(execId);
          for (let i = 0; i < data.length; i += 48 * 1024) {
            this.send({ type: 'exec-output', execId, stream, data: data.subarray(i, i + 48 * 1024).toString('base64') });
          }
        },
        exit: (e) => void this.send({ type: 'exec-exit', execId, ...e }),
      },
    );
  }

  /** Apply (unless only the revision moved), persist, then ack. */
  private async commit(gen: number, next: NodeView, ops: ViewOp[] | undefined, how: 'snapshot' | 'delta' | 'ping'): Promise<void> {
    if (how !== 'ping') await this.o.onView(next, ops);
    await saveView(this.o.stateDir, next);
    this.view = next;
    this.attempt = 0;
    if (how === 'snapshot') this.resyncNext = false;
    this.o.onApplied?.(next.revision, how);
    if (gen === this.gen) this.send({ type: 'ack', revision: next.revision });
  }

  private async answerLogs(requestId: string, container: string, tail: number): Promise<void> {
    try {
      if (!this.o.onLogs) throw new Error('logs not supported by this agent');
      this.send({ type: 'logs', requestId, text: await this.o.onLogs(container, tail) });
    } catch (err) {
      this.send({ type: 'logs', requestId, text: '', error: String((err as Error).message ?? err) });
    }
  }

  private async answerPackages(requestId: string, container: string): Promise<void> {
    try {
      if (!this.o.onPackages) throw new Error('packages not supported by this agent');
      this.send({ type: 'packages', requestId, ...(await this.o.onPackages(container)) });
    } catch (err) {
      this.send({
        type: 'packages',
        requestId,
        packages: [],
        invalid: 0,
        truncated: false,
        error: String((err as Error).message ?? err).slice(0, 2000),
      });
    }
  }

  private async answerInfraCounters(requestId: string, container: string): Promise<void> {
    try {
      if (!this.o.onInfraCounters) throw new Error('infra counters not supported by this agent');
      this.send({ type: 'infra-counters', requestId, counters: await this.o.onInfraCounters(container) });
    } catch (err) {
      this.send({ type: 'infra-counters', requestId, error: String((err as Error).message ?? err).slice(0, 2000) });
    }
  }

  private heartbeat(): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    if (this.clock.now() - this.lastHeard > silenceMs(this.hb, this.peerEvery, this.o.missedHeartbeats)) {
      this.log.warn('controller silent: reconnecting');
      this.ws.terminate();
      return;
    }
    this.send({ type: 'ping', t: this.clock.now(), every: this.hb });
  }
}
