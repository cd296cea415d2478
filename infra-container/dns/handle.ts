import { since } from '../../lib/metrics.js';
import type { Counters } from '../metrics.js';
import { InfraError } from '../errors.js';
import { answer } from './answer.js';
import { RCODE, RCODE_NAME } from './constants.js';
import { forward } from './forward.js';
import { parseQuery } from './query.js';
import type { ZoneIndex } from './zone.js';

export interface DnsContext {
  zone: () => ZoneIndex;
  counters: Counters;
  forwardTimeoutMs: number;
  /** Forwarded queries in flight (each holds a socket and a timer): beyond its max, SERVFAIL at once. */
  forwards?: ForwardGate;
}

/** Bounds forwarding whatever clients send: a flood of external names cannot pile up sockets. */
export class ForwardGate {
  inflight = 0;
  constructor(readonly max: number) {}
}
export const DEFAULT_MAX_FORWARDS = 256;

/**
 * One packet in, the reply out (a Buffer for local answers, a Promise when
 * forwarded, null to stay silent). Never throws: a malformed packet is
 * counted and dropped, a readable header with a bad body gets FORMERR.
 */
export function handleDns(ctx: DnsContext, raw: Buffer, transport: 'udp' | 'tcp'): Buffer | Promise<Buffer | null> | null {
  const t0 = performance.now();
  const r = reply(ctx, raw, transport);
  if (r instanceof Promise) return r.finally(() => ctx.counters.answered('dns', since(t0)));
  if (r) ctx.counters.answered('dns', since(t0));
  return r;
}

function reply(ctx: DnsContext, raw: Buffer, transport: 'udp' | 'tcp'): Buffer | Promise<Buffer | null> | null {
  ctx.counters.inc('dns_packets');
  let q;
  try {
    q = parseQuery(raw);
  } catch (e) {
    ctx.counters.inc('dns_malformed');
    if (e instanceof InfraError && e.code === 'dns_formerr') return counted(ctx, RCODE.FORMERR, formErr(raw));
    return null;
  }
  const zone = ctx.zone();
  const a = answer(zone, q, raw, transport);
  if (a.kind === 'response') return counted(ctx, a.rcode, a.packet);
  const gate = ctx.forwards;
  if (gate && gate.inflight >= gate.max) {
    ctx.counters.inc('dns_forward_shed');
    return counted(ctx, RCODE.SERVFAIL, formErr(raw, RCODE.SERVFAIL));
  }
  ctx.counters.inc('dns_forwarded');
  if (gate) gate.inflight++;
  const done = (): void => void (gate && gate.inflight--);
  return forward(zone.upstreams, raw, ctx.forwardTimeoutMs)
    .finally(done)
    .then((reply) => {
      if (reply) return counted(ctx, reply[3] & 0xf, reply);
      ctx.counters.inc('dns_forward_failed');
      return counted(ctx, RCODE.SERVFAIL, formErr(raw, RCODE.SERVFAIL));
    });
}

// counter names built once, not a template string per query
const RCODE_COUNTER = new Map(Object.entries(RCODE_NAME).map(([n, name]) => [Number(n), `dns_rcode_${name}`]));

function counted(ctx: DnsContext, rcode: number, packet: Buffer): Buffer {
  ctx.counters.inc(RCODE_COUNTER.get(rcode) ?? `dns_rcode_${rcode}`);
  return packet;
}

function formErr(raw: Buffer, rcode: number = RCODE.FORMERR): Buffer {
  const out = Buffer.alloc(12);
  raw.copy(out, 0, 0, 4);
  out.writeUInt16BE((raw.readUInt16BE(2) & 0x7900) | 0x8000 | rcode, 2);
  return out;
}
