import { ip4Bytes, reverseName, reverseZone4 } from '../../protocol/addr.js';
import type { InfraConfig } from '../../protocol/infra-config.js';
import { TYPE } from './constants.js';
import { encodeName, lowerKey } from './name.js';
import { forwardSoaRdata, pointer, reverseSoaRdata, RrWriter, soaTail } from './records.js';

/**
 * The zone compiled for the hot path: for every (lower-cased wire qname,
 * qtype) the encoded sections that follow the echoed question. The question
 * has a fixed length for a given key, so compression pointers into it can be
 * computed once, here.
 */
export interface Precomputed {
  rcode: number;
  an: number;
  ns: number;
  ar: number;
  body: Buffer;
}
export interface NameEntry {
  byType: Map<number, Precomputed>;
  any: Precomputed;
  nodata: Precomputed;
}
export type NameKind = 'forward' | 'reverse' | 'short';
export interface ZoneIndex {
  zone: string;
  apexKey: string;
  reverseZone: string;
  reverseKey: string;
  names: Map<string, NameEntry>;
  tail: Buffer;
  serverIp: string;
  upstreams: string[];
}

interface Rec {
  type: number;
  rdata: Buffer;
}

const HEADER = 12;
// a compression pointer to the question name, which always starts right after the header
const QNAME_POINTER = pointer(HEADER);

export function keyOf(name: string): string {
  const wire = encodeName(name);
  return lowerKey(wire, 0, wire.length);
}

export function buildZone(config: InfraConfig): ZoneIndex {
  const zone = config.network.zone.toLowerCase();
  const reverseZone = reverseZone4(config.network.cidr);
  const tail = soaTail(config.revision);
  const sets = new Map<string, { kind: NameKind; recs: Rec[] }>();
  const add = (name: string, kind: NameKind, rec: Rec): void => {
    const key = keyOf(name.toLowerCase());
    const set = sets.get(key) ?? { kind, recs: [] };
    if (!set.recs.some((r) => r.type === rec.type && r.rdata.equals(rec.rdata))) set.recs.push(rec);
    sets.set(key, set);
  };
  const infraName = `infra.${zone}`;
  add(zone, 'forward', { type: TYPE.SOA, rdata: forwardSoaRdata(HEADER, tail) });
  add(zone, 'forward', { type: TYPE.NS, rdata: Buffer.concat([Buffer.from('\x05infra', 'latin1'), QNAME_POINTER]) });
  add(reverseZone, 'reverse', { type: TYPE.SOA, rdata: reverseSoaRdata(zone, tail) });
  add(reverseZone, 'reverse', { type: TYPE.NS, rdata: encodeName(infraName) });
  add(infraName, 'forward', { type: TYPE.A, rdata: ip4Bytes(config.server.ip) });
  add(reverseName(config.server.ip), 'reverse', { type: TYPE.PTR, rdata: encodeName(infraName) });
  for (const b of config.bindings) {
    const fqdn = `${b.name}.${zone}`;
    add(fqdn, 'forward', { type: TYPE.A, rdata: ip4Bytes(b.ip) });
    add(b.name, 'short', { type: TYPE.A, rdata: ip4Bytes(b.ip) });
    add(reverseName(b.ip), 'reverse', { type: TYPE.PTR, rdata: encodeName(fqdn) });
  }
  const index: ZoneIndex = {
    zone,
    apexKey: keyOf(zone),
    reverseZone,
    reverseKey: keyOf(reverseZone),
    names: new Map(),
    tail,
    serverIp: config.server.ip,
    upstreams: config.upstreams,
  };
  for (const [key, set] of sets) index.names.set(key, compileName(index, key, set.kind, set.recs));
  return index;
}

function compileName(z: ZoneIndex, key: string, kind: NameKind, recs: Rec[]): NameEntry {
  const base = HEADER + key.length + 4;
  const byType = new Map<number, Precomputed>();
  for (const type of new Set(recs.map((r) => r.type)))
    byType.set(
      type,
      positive(
        z,
        key,
        base,
        recs.filter((r) => r.type === type),
      ),
    );
  return { byType, any: positive(z, key, base, recs), nodata: negative(z, key, kind, 0) };
}

function positive(z: ZoneIndex, key: string, base: number, recs: Rec[]): Precomputed {
  const an = new RrWriter(base);
  const nsRdata: number[] = [];
  for (const r of recs) {
    const at = an.add(QNAME_POINTER, r.type, r.rdata);
    if (r.type === TYPE.NS && key === z.apexKey) nsRdata.push(at);
  }
  // NS at the apex: glue A for infra.<zone>, named by a pointer into the NS rdata
  const ar = new RrWriter(an.offset);
  if (recs.length > 0 && recs.every((r) => r.type === TYPE.NS)) {
    for (const at of nsRdata) ar.add(pointer(at), TYPE.A, ip4Bytes(z.serverIp));
  }
  return { rcode: 0, an: an.count, ns: 0, ar: ar.count, body: Buffer.concat([an.buffer(), ar.buffer()]) };
}

/** NODATA (rcode 0) or NXDOMAIN (3) with the SOA of the name's zone in authority. */
export function negative(z: ZoneIndex, key: string, kind: NameKind, rcode: number): Precomputed {
  const base = HEADER + key.length + 4;
  const w = new RrWriter(base);
  if (kind === 'forward') {
    const apexAt = HEADER + key.length - z.apexKey.length;
    w.add(pointer(apexAt), TYPE.SOA, forwardSoaRdata(apexAt, z.tail));
  } else if (kind === 'reverse') {
    w.add(pointer(HEADER + key.length - z.reverseKey.length), TYPE.SOA, reverseSoaRdata(z.zone, z.tail));
  } else {
    // a short name: the apex is not in the question, write it once and point at it
    w.add(encodeName(z.zone), TYPE.SOA, forwardSoaRdata(base, z.tail));
  }
  return { rcode, an: 0, ns: 1, ar: 0, body: w.buffer() };
}
