import type { FastifyInstance } from 'fastify';
import type { Db } from '../store/db.js';
import type { Logger } from 'pino';

/**
 * The controller's side of the agent stream. The API registers it on its fastify
 * instance; the push module owns /v1/agent/stream and the per-node sessions.
 * (Stub until the push module lands: it registers nothing.)
 */
export interface PushHub {
  /** Asks the agent hosting a container for its output; rejects when the node is not connected. */
  requestLogs(node: string, containerId: string, tail: number): Promise<string>;
  /** Prometheus text lines for /metrics. */
  metrics(): string;
  close(): Promise<void>;
}

export interface PushContext {
  db: Db;
  log: Logger;
  /** Called when a node becomes ready, so pending containers get scheduled. */
  onNodeReady?: (node: string) => Promise<void>;
}

export async function registerPush(_app: FastifyInstance, _ctx: PushContext): Promise<PushHub> {
  return {
    requestLogs: async () => {
      throw Object.assign(new Error('node not connected'), { code: 'node_unavailable' });
    },
    metrics: () => '',
    close: async () => {},
  };
}
