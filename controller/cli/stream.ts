/**
 * freightctl's reader of the events stream (GET /v1/events, Server-Sent Events) over the same
 * TLS trust as every other request. Reconnects like a browser's EventSource: after a lost
 * connection it resumes with Last-Event-ID, so no change is skipped.
 */
import http from 'node:http';
import https from 'node:https';
import { fetchPinnedCa, type Trust } from '../../protocol/tls-trust.js';
import { CliError } from './client.js';
import { EXIT, exitForStatus } from './exit.js';

export interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

export interface FollowOptions {
  token?: string;
  since?: number;
  /** Called for every message; return false to stop following. */
  onMessage(m: SseMessage): boolean | void;
  /** Delay before reconnecting after a lost connection. */
  retryMs?: number;
}

export type Follow = (path: string, o: FollowOptions) => Promise<void>;

export function follower(base: string, trust: Trust): Follow {
  let ca: Promise<string | undefined> | undefined;
  const caOf = () =>
    (ca ??= trust.kind === 'pin' ? fetchPinnedCa(base, trust.fingerprint) : Promise.resolve(trust.kind === 'ca' ? trust.pem : undefined));
  return async (path, o) => {
    let last = o.since;
    let connected = false;
    for (let attempt = 0; ; attempt++) {
      const r = await once(new URL(base.replace(/\/+$/, '') + path), await caOf(), o, last);
      last = r.last;
      if (r.stopped) return;
      if (r.status === 200) connected = true;
      else if (r.status !== 0)
        throw new CliError(r.code ?? `http_${r.status}`, r.message ?? `events: HTTP ${r.status}`, exitForStatus(r.status));
      else if (!connected) throw new CliError('unreachable', `cannot reach the controller at ${base}`, EXIT.unreachable);
      // lost after it worked: the controller restarts or a proxy cut the stream; resume from `last`
      if (r.received) attempt = 0;
      await new Promise((res) => setTimeout(res, Math.min(5000, (o.retryMs ?? 1000) * (attempt + 1))));
    }
  };
}

interface Round {
  status: number;
  last?: number;
  stopped: boolean;
  received: boolean;
  code?: string;
  message?: string;
}

function once(u: URL, ca: string | undefined, o: FollowOptions, last: number | undefined): Promise<Round> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (last !== undefined) headers['last-event-id'] = String(last);
  const options = u.protocol === 'https:' ? { ca, rejectUnauthorized: true } : {};
  return new Promise((resolve) => {
    const round: Round = { status: 0, last, stopped: false, received: false };
    const req = (u.protocol === 'https:' ? https : http).get(u, { headers, ...options }, (res) => {
      round.status = res.statusCode ?? 0;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        if (round.status !== 200) return;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0 && !round.stopped) {
          const m = parse(buf.slice(0, i));
          buf = buf.slice(i + 2);
          if (!m) continue;
          round.received = true;
          if (m.id !== undefined) round.last = Number(m.id);
          if (o.onMessage(m) === false) {
            round.stopped = true;
            req.destroy();
          }
        }
      });
      res.on('close', () => {
        if (round.status !== 200) {
          try {
            const e = JSON.parse(buf) as { code?: string; message?: string };
            round.code = e.code;
            round.message = e.message;
          } catch {
            // not JSON: the status says enough
          }
        }
        resolve(round);
      });
    });
    req.on('error', () => resolve(round));
  });
}

function parse(block: string): SseMessage | undefined {
  const m: SseMessage = { event: 'message', data: '' };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const k = i < 0 ? line : line.slice(0, i);
    const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (k === 'event') m.event = v;
    else if (k === 'id') m.id = v;
    else if (k === 'data') data.push(v);
  }
  if (data.length === 0) return undefined;
  m.data = data.join('\n');
  return m;
}
