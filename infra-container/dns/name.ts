import { InfraError } from '../errors.js';

/** DNS name wire format (RFC 1035 §3.1, §4.1.4), shared by DNS and DHCP option 119. */

const MAX_NAME = 255;
const MAX_JUMPS = 64;

export function labelsOf(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed === '' ? [] : trimmed.split('.');
}

/** Uncompressed wire form of a dotted name. */
export function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of labelsOf(name)) {
    const b = Buffer.from(label, 'latin1');
    if (b.length === 0 || b.length > 63) throw new InfraError('dns_malformed', `encode name ${name}: bad label length ${b.length}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > MAX_NAME) throw new InfraError('dns_malformed', `encode name ${name}: longer than 255 bytes`);
  return out;
}

/**
 * Encodes names one after another, replacing a suffix already written by a
 * pointer (offsets relative to the start of the returned buffer plus `base`).
 * With `compress` false it is the plain concatenation.
 */
export function encodeNamesCompressed(names: string[], compress = true, base = 0): Buffer {
  const parts: Buffer[] = [];
  const seen = new Map<string, number>();
  let offset = 0;
  for (const name of names) {
    const labels = labelsOf(name);
    let i = 0;
    for (; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = compress ? seen.get(suffix) : undefined;
      if (at !== undefined && at + base < 0x4000) break;
      if (offset + base < 0x4000) seen.set(suffix, offset);
      const b = Buffer.from(labels[i], 'latin1');
      if (b.length === 0 || b.length > 63) throw new InfraError('dns_malformed', `encode name ${name}: bad label length`);
      parts.push(Buffer.from([b.length]), b);
      offset += 1 + b.length;
    }
    if (i < labels.length) {
      const ptr = (seen.get(labels.slice(i).join('.').toLowerCase()) as number) + base;
      parts.push(Buffer.from([0xc0 | (ptr >> 8), ptr & 0xff]));
      offset += 2;
    } else {
      parts.push(Buffer.from([0]));
      offset += 1;
    }
  }
  return Buffer.concat(parts);
}

export interface DecodedName {
  /** Dotted name without the trailing dot, as sent (case kept). */
  name: string;
  /** Offset just after the name at its original position. */
  end: number;
}

/**
 * Decodes a possibly compressed name at `offset`. Pointers are relative to
 * `base` and must point strictly backwards (no loops), stay inside
 * [base, limit), and the name must stay under 255 bytes: anything else
 * throws dns_malformed.
 */
export function decodeName(buf: Buffer, offset: number, base = 0, limit = buf.length): DecodedName {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  let length = 1;
  let jumps = 0;
  for (;;) {
    if (pos >= limit || pos < base) throw new InfraError('dns_malformed', `decode name at ${offset}: out of range`);
    const len = buf[pos];
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= limit) throw new InfraError('dns_malformed', `decode name at ${offset}: truncated pointer`);
      const target = base + (((len & 0x3f) << 8) | buf[pos + 1]);
      if (target >= pos || ++jumps > MAX_JUMPS) throw new InfraError('dns_malformed', `decode name at ${offset}: pointer loop`);
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new InfraError('dns_malformed', `decode name at ${offset}: reserved label type`);
    if (pos + 1 + len > limit) throw new InfraError('dns_malformed', `decode name at ${offset}: truncated label`);
    length += len + 1;
    if (length > MAX_NAME) throw new InfraError('dns_malformed', `decode name at ${offset}: longer than 255 bytes`);
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: labels.join('.'), end };
}

/**
 * Lower-cased wire bytes as a Map key (DNS case folding, RFC 4343). Latin-1
 * letters above ASCII fold too, harmless: zone names are ASCII only.
 */
export function lowerKey(buf: Buffer, start: number, end: number): string {
  const s = buf.toString('latin1', start, end);
  return UPPER.test(s) ? s.toLowerCase() : s;
}
const UPPER = /[A-Z\u00c0-\u00de]/;
