import { CLASS, TYPE } from './constants.js';
import { encodeName } from './name.js';

/** Builders of encoded resource records, used when the zone index is compiled. */

/** TTL of every record and of negative answers: containers come and go. */
export const TTL = 30;

export function pointer(offset: number): Buffer {
  return Buffer.from([0xc0 | (offset >> 8), offset & 0xff]);
}

/** Appends records after a known absolute offset, so rdata can point at names already written. */
export class RrWriter {
  private readonly parts: Buffer[] = [];
  private length = 0;
  count = 0;
  constructor(readonly base: number) {}

  /** Returns the absolute offset of the record's rdata. */
  add(owner: Buffer, type: number, rdata: Buffer, ttl = TTL): number {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(type, 0);
    fixed.writeUInt16BE(CLASS.IN, 2);
    fixed.writeUInt32BE(ttl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    const rdataAt = this.base + this.length + owner.length + 10;
    this.parts.push(owner, fixed, rdata);
    this.length += owner.length + 10 + rdata.length;
    this.count++;
    return rdataAt;
  }

  get offset(): number {
    return this.base + this.length;
  }

  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** SOA numbers after the two names: serial, refresh, retry, expire, minimum (negative TTL). */
export function soaTail(serial: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(serial >>> 0, 0);
  b.writeUInt32BE(3600, 4);
  b.writeUInt32BE(600, 8);
  b.writeUInt32BE(86400, 12);
  b.writeUInt32BE(TTL, 16);
  return b;
}

/** SOA rdata of the forward zone whose apex name is at `apexOffset`: infra.<zone>, hostmaster.<zone>. */
export function forwardSoaRdata(apexOffset: number, tail: Buffer): Buffer {
  const p = pointer(apexOffset);
  return Buffer.concat([Buffer.from('\x05infra', 'latin1'), p, Buffer.from('\x0ahostmaster', 'latin1'), p, tail]);
}

/** SOA rdata of the reverse zone: names of the forward zone, uncompressed. */
export function reverseSoaRdata(zone: string, tail: Buffer): Buffer {
  return Buffer.concat([encodeName(`infra.${zone}`), encodeName(`hostmaster.${zone}`), tail]);
}

export { TYPE };
