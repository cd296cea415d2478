import type { ViewEndpoint, ViewOp } from './view.js';

/**
 * The compact delta encoding, `ops1` (docs/push.md). An agent that lists it in its hello's
 * `encodings` gets deltas as `{"d":[from, revision - from],"c":[…]}` instead of
 * `{"type":"delta","from","revision","ops"}`. Endpoints, the bulk of every delta (one per
 * container interface, sent to every node of the network), travel as tuples with their UUIDs
 * and MACs in base64url (22 and 8 characters instead of 36 and 17); every other kind, and any
 * endpoint that does not fit the tuple exactly, travels as `[kind, id, value?]`. Decoding
 * yields the plain message, which is then validated as any delta is: the encoding changes
 * bytes, never what the agent accepts.
 */
export const OPS1 = 'ops1';

/** [network, flags, owner, name, mac, ip, node, vtep, ifindex, groups?]; flags: bit 0 infra, bits 1–2 plugged (0 absent, 1 yes, 2 no) */
type Tuple = [string, number, string, string, string, string, string, string, number, string[]?];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const B64_UUID = /^[A-Za-z0-9_-]{22}$/;
const B64_MAC = /^[A-Za-z0-9_-]{8}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const ENDPOINT_KEYS = ['id', 'ifindex', 'ip', 'kind', 'mac', 'name', 'network', 'node', 'owner', 'vtep'];
const OPTIONAL_KEYS = ['plugged', 'groups'];

/** A lower-case UUID → 22 characters of base64url; anything else → `=` + itself. */
export function packId(s: string): string {
  return UUID.test(s) ? hexToB64url(s.replace(/-/g, '')) : `=${s}`;
}

export function unpackId(s: string): string {
  if (s.startsWith('=')) return s.slice(1);
  if (!B64_UUID.test(s)) throw new TypeError('ops1: malformed id');
  const h = b64urlToHex(s, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const packMac = (m: string): string => (MAC.test(m) ? hexToB64url(m.replace(/:/g, '')) : `=${m}`);
function unpackMac(s: string): string {
  if (s.startsWith('=')) return s.slice(1);
  if (!B64_MAC.test(s)) throw new TypeError('ops1: malformed mac');
  return b64urlToHex(s, 12).match(/../g)!.join(':');
}

const PLUGGED = { absent: 0, true: 1, false: 2 } as const;

function endpointTuple(id: string, e: ViewEndpoint): Tuple | undefined {
  const keys = Object.keys(e);
  const fits =
    e.id === id && ENDPOINT_KEYS.every((k) => k in e) && keys.every((k) => ENDPOINT_KEYS.includes(k) || OPTIONAL_KEYS.includes(k));
  if (!fits) return undefined;
  const flags = (e.kind === 'infra' ? 1 : 0) | (PLUGGED[e.plugged === undefined ? 'absent' : e.plugged ? 'true' : 'false'] << 1);
  const t: Tuple = [packId(e.network), flags, packId(e.owner), e.name, packMac(e.mac), e.ip, e.node, e.vtep, e.ifindex];
  if (e.groups !== undefined) t.push(e.groups.map(packId));
  return t;
}

/** The JSON of one op's value in ops1 (`undefined` → the generic form). */
export function compactValueJson(op: ViewOp): string | undefined {
  if (op.kind !== 'endpoints' || op.value === undefined) return undefined;
  const t = endpointTuple(op.id, op.value);
  return t && JSON.stringify(t);
}

/** One op as ops1 JSON; `valueJson`/`tupleJson` give the value already serialised (shared by every session of a batch). */
export function compactOpJson(op: ViewOp, valueJson: () => string, tupleJson: () => string | undefined): string {
  if (op.kind === 'endpoints') {
    if (op.value === undefined) return `["e",${JSON.stringify(packId(op.id))}]`;
    const t = tupleJson();
    if (t !== undefined) return `["e",${JSON.stringify(packId(op.id))},${t}]`;
  }
  const head = `[${JSON.stringify(op.kind)},${JSON.stringify(op.id)}`;
  return op.value === undefined ? `${head}]` : `${head},${valueJson()}]`;
}

/** A whole ops1 delta message around already-encoded ops. */
export const compactDeltaJson = (from: number, revision: number, ops: string[]): string =>
  `{"d":[${from},${revision - from}],"c":[${ops.join(',')}]}`;

function decodeEndpoint(id: string, t: unknown): Record<string, unknown> {
  if (!Array.isArray(t) || t.length < 9 || t.length > 10) throw new TypeError('ops1: malformed endpoint');
  const [network, flags, owner, name, mac, ip, node, vtep, ifindex, groups] = t as unknown[];
  if (typeof network !== 'string' || typeof owner !== 'string' || typeof mac !== 'string' || typeof flags !== 'number')
    throw new TypeError('ops1: malformed endpoint');
  const value: Record<string, unknown> = {
    id,
    network: unpackId(network),
    kind: flags & 1 ? 'infra' : 'container',
    owner: unpackId(owner),
    name,
    mac: unpackMac(mac),
    ip,
    node,
    vtep,
    ifindex,
  };
  const plugged = (flags >> 1) & 3;
  if (plugged === PLUGGED.true || plugged === PLUGGED.false) value.plugged = plugged === PLUGGED.true;
  if (groups !== undefined) {
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) throw new TypeError('ops1: malformed endpoint');
    value.groups = groups.map(unpackId);
  }
  return value;
}

/** ops1 back to plain ops (still to be validated by the caller); throws TypeError on a malformed op. */
export function decodeCompactOps(c: unknown): unknown[] {
  if (!Array.isArray(c)) throw new TypeError('ops1: c is not an array');
  return c.map((a: unknown) => {
    if (!Array.isArray(a) || typeof a[0] !== 'string' || typeof a[1] !== 'string' || a.length > 3)
      throw new TypeError('ops1: malformed op');
    if (a[0] !== 'e') return a.length === 3 ? { kind: a[0], id: a[1], value: a[2] } : { kind: a[0], id: a[1] };
    const id = unpackId(a[1]);
    return a.length === 2 ? { kind: 'endpoints', id } : { kind: 'endpoints', id, value: decodeEndpoint(id, a[2]) };
  });
}

/** A received controller message with an ops1 delta turned back into a plain delta; anything else unchanged. */
export function decodeMessage(m: unknown): unknown {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return m;
  const { d, c, ...rest } = m as Record<string, unknown>;
  if (d === undefined || c === undefined || 'type' in rest) return m;
  if (!Array.isArray(d) || d.length !== 2 || !d.every((x) => Number.isSafeInteger(x)) || (d[0] as number) < 0)
    throw new TypeError('ops1: malformed delta header');
  const [from, step] = d as [number, number];
  return { type: 'delta', from, revision: from + step, ops: decodeCompactOps(c) };
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
function b64urlToHex(s: string, digits: number): string {
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
  return out.slice(0, digits);
}
