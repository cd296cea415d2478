import { randomBytes } from 'node:crypto';

/** rfc4106(gcm(aes)) key material: 16 key bytes + 4 salt bytes, as 40 hex digits. */
export const KEY_BYTES = 20;
/** SPIs below 256 are reserved (RFC 4303). */
export const MIN_SPI = 0x100;

export type Random = (bytes: number) => Buffer;

export interface Material {
  spiAb: number;
  spiBa: number;
  keyAb: string;
  keyBa: string;
}

/**
 * Fresh keys and SPIs for one pair. An SPI names an inbound SA at its destination node, so
 * `spiAb` (A → B) must differ from every SPI already arriving at B, and `spiBa` from those at A.
 * `inUse` maps node id → SPIs whose destination is that node; it is updated with the new ones.
 */
export function mintMaterial(nodeA: string, nodeB: string, inUse: Map<string, Set<number>>, random: Random = randomBytes): Material {
  const spiAb = freshSpi(inUse, nodeB, random);
  const spiBa = freshSpi(inUse, nodeA, random);
  return { spiAb, spiBa, keyAb: random(KEY_BYTES).toString('hex'), keyBa: random(KEY_BYTES).toString('hex') };
}

function freshSpi(inUse: Map<string, Set<number>>, dst: string, random: Random): number {
  let used = inUse.get(dst);
  if (!used) inUse.set(dst, (used = new Set()));
  for (;;) {
    const spi = random(4).readUInt32BE(0);
    if (spi >= MIN_SPI && !used.has(spi)) {
      used.add(spi);
      return spi;
    }
  }
}

/** SPIs in use per destination node, from key rows. */
export function spisByDestination(rows: Array<{ nodeA: string; nodeB: string; spiAb: number; spiBa: number }>): Map<string, Set<number>> {
  const m = new Map<string, Set<number>>();
  const add = (node: string, spi: number) => {
    if (!m.has(node)) m.set(node, new Set());
    m.get(node)!.add(spi);
  };
  for (const r of rows) {
    add(r.nodeB, r.spiAb);
    add(r.nodeA, r.spiBa);
  }
  return m;
}
