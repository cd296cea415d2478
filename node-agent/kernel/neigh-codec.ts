import { writeIp4 } from '../../protocol/addr.js';

/**
 * Hand-packed ndmsg + NDA_DST/NDA_LLADDR: the payload of every FDB and neighbour
 * message. The library's generic attribute encoder costs ~7 µs a message, most of a
 * 100k-entry install; this writes the fixed layout straight into one Buffer
 * (linux/neighbour.h: struct ndmsg is 12 bytes in host order, then aligned attributes).
 */
export const NUD = { NOARP: 0x40, PERMANENT: 0x80 } as const;
export const NTF = { SELF: 0x02, MASTER: 0x04 } as const;
const NDA_DST = 1;
const NDA_LLADDR = 2;

export interface NdmsgSpec {
  family: number;
  ifindex: number;
  state?: number;
  flags?: number;
}

function putMac(out: Buffer, o: number, s: string): void {
  const p = s.split(':');
  if (p.length !== 6) throw new TypeError(`not a MAC: ${s}`);
  for (let i = 0; i < 6; i++) {
    const n = parseInt(p[i], 16);
    if (!(n >= 0 && n <= 255) || !/^[0-9a-fA-F]{1,2}$/.test(p[i])) throw new TypeError(`not a MAC: ${s}`);
    out[o + i] = n;
  }
}

/** ndmsg followed by NDA_DST (IPv4) and NDA_LLADDR (MAC) when given, in that order. */
export function packNeigh(h: NdmsgSpec, a: { dst?: string; lladdr?: string }): Buffer {
  const len = 12 + (a.dst ? 8 : 0) + (a.lladdr ? 12 : 0);
  const b = Buffer.alloc(len);
  b[0] = h.family;
  b.writeInt32LE(h.ifindex, 4);
  b.writeUInt16LE(h.state ?? 0, 8);
  b[10] = h.flags ?? 0;
  let o = 12;
  if (a.dst) {
    b.writeUInt16LE(8, o);
    b.writeUInt16LE(NDA_DST, o + 2);
    writeIp4(b, o + 4, a.dst);
    o += 8;
  }
  if (a.lladdr) {
    b.writeUInt16LE(10, o);
    b.writeUInt16LE(NDA_LLADDR, o + 2);
    putMac(b, o + 4, a.lladdr);
  }
  return b;
}
