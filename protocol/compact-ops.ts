import type { ViewEndpoint, ViewOp } from './view.js';

/**
 * The compact delta encoding, `ops1` (docs/push.md). An agent that lists it in its hello's
 * `encodings` gets deltas as `{"type":"delta","from","revision","c":[…]}` instead of `ops`.
 * Endpoints, the bulk of every delta (one per container interface, sent to every node of the
 * network), travel as tuples with their UUIDs in base64url (22 characters instead of 36) and
 * MACs without colons; every other kind, and any endpoint that does not fit the tuple exactly,
 * travels as `[kind, id, value?]`. Decoding yields the plain ops, which are then validated as
 * any delta is: the encoding changes bytes, never what the agent accepts.
 */
export const OPS1 = 'ops1';

type Tuple = [string, 0 | 1, string, string, string, string, string, string, number];
export type CompactOp = [string, string, unknown?];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const B64_UUID = /^[A-Za-z0-9_-]{22}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const ENDPOINT_KEYS = 'id,ifindex,ip,kind,mac,name,network,node,owner,vtep';

/** A lower-case UUID → 22 characters of base64url; anything else → `=` + itself. */
export function packId(s: string): string {
  if (!UUID.test(s)) return `=${s}`;
  return hexToB64url(s.replace(/-/g, ''));
}

export function unpackId(s: string): string {
  if (s.startsWith('=')) return s.slice(1);
  if (!B64_UUID.test(s)) throw new TypeError('ops1: malformed id');
  const h = b64urlToHex(s);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const packMac = (m: string): string => (MAC.test(m) ? m.replace(/:/g, '') : `=${m}`);
function unpackMac(s: string): string {
  if (s.startsWith('=')) return s.slice(1);
  if (!/^[0-9a-f]{12}$/.test(s)) throw new TypeError('ops1: malformed mac');
  return s.match(/../g)!.join(':');
}

function endpointTuple(id: string, e: ViewEndpoint): Tuple | undefined {
  if (e.id !== id || Object.keys(e).sort().join(',') !== ENDPOINT_KEYS) return undefined;
  return [packId(e.network), e.kind === 'infra' ? 1 : 0, packId(e.owner), e.name, packMac(e.mac), e.ip, e.node, e.vtep, e.ifindex];
}

/** The JSON of one op's value in ops1 (`undefined` → the generic form). */
export function compactValueJson(op: ViewOp): string | undefined {
  if (op.kind !== 'endpoints' || op.value === undefined) return undefined;
  const t = endpointTuple(op.id, op.value);
  return t && JSON.stringify(t);
}

/** One op as ops1 JSON; `value` is the already-serialised value (shared by every session of a batch). */
export function compactOpJson(op: ViewOp, valueJson: () => string, tupleJson: () => string | undefined): string {
  if (op.kind === 'endpoints') {
    if (op.value === undefined) return `["e",${JSON.stringify(packId(op.id))}]`;
    const t = tupleJson();
    if (t !== undefined) return `["e",${JSON.stringify(packId(op.id))},${t}]`;
  }
  const head = `[${JSON.stringify(op.kind)},${JSON.stringify(op.id)}`;
  return op.value === undefined ? `${head}]` : `${head},${valueJson()}]`;
}

/** ops1 back to plain ops (still to be validated by the caller); throws TypeError on a malformed op. */
export function decodeCompactOps(c: unknown): unknown[] {
  if (!Array.isArray(c)) throw new TypeError('ops1: c is not an array');
  return c.map((a: unknown) => {
    if (!Array.isArray(a) || typeof a[0] !== 'string' || typeof a[1] !== 'string' || a.length > 3)
      throw new TypeError('ops1: malformed op');
    if (a[0] !== 'e') return a.length === 3 ? { kind: a[0], id: a[1], value: a[2] } : { kind: a[0], id: a[1] };
    const id = unpackId(a[1]);
    if (a.length === 2) return { kind: 'endpoints', id };
    const t = a[2] as unknown[];
    if (!Array.isArray(t) || t.length !== 9) throw new TypeError('ops1: malformed endpoint');
    const [network, kind, owner, name, mac, ip, node, vtep, ifindex] = t;
    if (typeof network !== 'string' || typeof owner !== 'string' || typeof mac !== 'string')
      throw new TypeError('ops1: malformed endpoint');
    return {
      kind: 'endpoints',
      id,
      value: {
        id,
        network: unpackId(network),
        kind: kind === 1 ? 'infra' : 'container',
        owner: unpackId(owner),
        name,
        mac: unpackMac(mac),
        ip,
        node,
        vtep,
        ifindex,
      },
    };
  });
}

// hex ↔ base64url without Buffer: protocol/ is shared with code that may run outside Node
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
function hexToB64url(hex: string): string {
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const ch of hex) {
    acc = ((acc << 4) | parseInt(ch, 16)) & 0xffff;
    bits += 4;
    if (bits >= 6) {
      bits -= 6;
      out += B64[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += B64[(acc << (6 - bits)) & 63];
  return out;
}
function b64urlToHex(s: string): string {
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const ch of s) {
    acc = ((acc << 6) | B64.indexOf(ch)) & 0xffff;
    bits += 6;
    while (bits >= 4) {
      bits -= 4;
      out += ((acc >> bits) & 15).toString(16);
    }
  }
  return out.slice(0, 32);
}

/** A received controller message with an ops1 delta turned back into plain ops; anything else unchanged. */
export function decodeMessage(m: unknown): unknown {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return m;
  const { c, ...rest } = m as Record<string, unknown>;
  if (rest.type !== 'delta' || c === undefined || 'ops' in rest) return m;
  return { ...rest, ops: decodeCompactOps(c) };
}
