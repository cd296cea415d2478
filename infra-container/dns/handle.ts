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
}

/**
 * One packet in, the reply out (a Buffer for local answers, a Promise when
 * forwarded, null to stay silent). Never throws: a malformed packet is
 * counted and dropped, a readable header with a bad body gets FORMERR.
 */
export function handleDns(ctx: DnsContext, raw: Buffer, transport: 'udp' | 'tcp'): Buffer | Promise<Buffer | null> | null {
  ctx.counters.inc('dns_packets');
  let q;
  try {
    q = parseQuery(raw);
  } catch (e) {
    ctx.counters.inc('dns_malformed');
    if (e instanceof InfraError && e.code === 'DNS_FORMERR') return counted(ctx, RCODE.FORMERR, formErr(raw));
    return null;
  }
  const zone = ctx.zone();
  const a = answer(zone, q, raw, transport);
  if (a.kind === 'response') return counted(ctx, a.rcode, a.packet);
  ctx.counters.inc('dns_forwarded');
  return forward(zone.upstreams, raw, ctx.forwardTimeoutMs).then((reply) => {
    if (reply) return counted(ctx, reply[3] & 0xf, reply);
    ctx.counters.inc('dns_forward_failed');
    return counted(ctx, RCODE.SERVFAIL, formErr(raw, RCODE.SERVFAIL));
  });
}

function counted(ctx: DnsContext, rcode: number, packet: Buffer): Buffer {
  ctx.counters.inc(`dns_rcode_${RCODE_NAME[rcode] ?? rcode}`);
  return packet;
}

function formErr(raw: Buffer, rcode: number = RCODE.FORMERR): Buffer {
  const out = Buffer.alloc(12);
  raw.copy(out, 0, 0, 4);
  out.writeUInt16BE((raw.readUInt16BE(2) & 0x7900) | 0x8000 | rcode, 2);
  return out;
}
