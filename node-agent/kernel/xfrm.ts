/**
 * IPsec (ESP transport mode) over NETLINK_XFRM with hand-packed structs (linux/xfrm.h):
 * xfrm_selector 56, xfrm_usersa_info 224, xfrm_usersa_id 24, xfrm_userpolicy_info 168,
 * xfrm_userpolicy_id 64, xfrm_user_tmpl 64, xfrm_algo_aead 72 + key. Little-endian host
 * fields, network-order SPI and ports.
 */
import nl from 'netlink';
import { NLM_F, formatAttribute, ip4, ip4str, type NetlinkGateway, type NlMsg } from './netlink.js';

export const XFRM_MSG = { NEWSA: 16, DELSA: 17, GETSA: 18, NEWPOLICY: 19, DELPOLICY: 20, GETPOLICY: 21 } as const;
const XFRMA_TMPL = 5;
const XFRMA_ALG_AEAD = 18;
const AF_INET = 2;
const IPPROTO_ESP = 50;
const IPPROTO_UDP = 17;
const XFRM_MODE_TRANSPORT = 0;
const XFRM_INF = 0xffffffffffffffffn;
export const AEAD_ALG = 'rfc4106(gcm(aes))';
export const ICV_BITS = 128;
export const POLICY_PRIORITY = 100;
/** reqid marking Freight's states and policies (0x6672 = "fr"): the agent never touches others. */
export const FREIGHT_REQID = 0x66720001;
export const XFRM_DIR = { in: 0, out: 1 } as const;
export type XfrmDir = keyof typeof XFRM_DIR;

/** A UDP flow between two hosts (the tunnel): the selector of SAs and policies. */
export interface Flow {
  src: string;
  dst: string;
  /** UDP destination port (4789 for vxlan) */
  dport: number;
}

export interface SaSpec {
  src: string;
  dst: string;
  spi: number;
  /** 40 hex digits: 128-bit AES key + 32-bit salt */
  key: string;
  reqid: number;
  dport: number;
}

export interface PolicySpec extends Flow {
  dir: XfrmDir;
  reqid: number;
}

function writeSelector(b: Buffer, o: number, f: Flow): void {
  ip4(f.dst).copy(b, o + 0);
  ip4(f.src).copy(b, o + 16);
  b.writeUInt16BE(f.dport, o + 32);
  b.writeUInt16BE(0xffff, o + 34); // dport_mask
  b.writeUInt16LE(AF_INET, o + 40);
  b.writeUInt8(32, o + 42); // prefixlen_d
  b.writeUInt8(32, o + 43); // prefixlen_s
  b.writeUInt8(IPPROTO_UDP, o + 44);
}

function writeLifetimeInf(b: Buffer, o: number): void {
  for (let i = 0; i < 4; i++) b.writeBigUInt64LE(XFRM_INF, o + i * 8); // byte/packet limits
}

function aeadAttr(keyHex: string): Uint8Array[] {
  const key = Buffer.from(keyHex, 'hex');
  const a = Buffer.alloc(72 + key.length);
  a.write(AEAD_ALG, 0, 'latin1');
  a.writeUInt32LE(key.length * 8, 64);
  a.writeUInt32LE(ICV_BITS, 68);
  key.copy(a, 72);
  return formatAttribute({ type: XFRMA_ALG_AEAD, data: a });
}

/** xfrm_usersa_info (224 bytes). */
export function saInfo(s: SaSpec): Buffer {
  const b = Buffer.alloc(224);
  writeSelector(b, 0, { src: s.src, dst: s.dst, dport: s.dport });
  ip4(s.dst).copy(b, 56); // id.daddr
  b.writeUInt32BE(s.spi >>> 0, 72); // id.spi
  b.writeUInt8(IPPROTO_ESP, 76); // id.proto
  ip4(s.src).copy(b, 80); // saddr
  writeLifetimeInf(b, 96);
  b.writeUInt32LE(s.reqid, 208);
  b.writeUInt16LE(AF_INET, 212);
  b.writeUInt8(XFRM_MODE_TRANSPORT, 214);
  return b;
}

export function newSaMsg(s: SaSpec): NlMsg {
  return {
    type: XFRM_MSG.NEWSA,
    flags: NLM_F.CREATE | NLM_F.EXCL,
    payload: [saInfo(s), ...aeadAttr(s.key)],
    op: 'add xfrm state',
    target: `esp spi 0x${s.spi.toString(16)} ${s.src}->${s.dst}`,
  };
}

/** xfrm_usersa_id (24 bytes): daddr, spi, family, proto. */
export function delSaMsg(s: { src?: string; dst: string; spi: number }): NlMsg {
  const b = Buffer.alloc(24);
  ip4(s.dst).copy(b, 0);
  b.writeUInt32BE(s.spi >>> 0, 16);
  b.writeUInt16LE(AF_INET, 20);
  b.writeUInt8(IPPROTO_ESP, 22);
  return { type: XFRM_MSG.DELSA, payload: b, op: 'delete xfrm state', target: `esp spi 0x${s.spi.toString(16)} dst ${s.dst}` };
}

/** xfrm_user_tmpl (64 bytes): ESP transport between the flow's hosts. */
export function userTmpl(src: string, dst: string, reqid: number): Buffer {
  const t = Buffer.alloc(64);
  ip4(dst).copy(t, 0);
  t.writeUInt8(IPPROTO_ESP, 20);
  t.writeUInt16LE(AF_INET, 24);
  ip4(src).copy(t, 28);
  t.writeUInt32LE(reqid, 44);
  t.writeUInt8(XFRM_MODE_TRANSPORT, 48);
  t.writeUInt32LE(0xffffffff, 52); // aalgos
  t.writeUInt32LE(0xffffffff, 56); // ealgos
  t.writeUInt32LE(0xffffffff, 60); // calgos
  return t;
}

/** xfrm_userpolicy_info (168 bytes). */
export function policyInfo(p: PolicySpec): Buffer {
  const b = Buffer.alloc(168);
  writeSelector(b, 0, p);
  writeLifetimeInf(b, 56);
  b.writeUInt32LE(POLICY_PRIORITY, 152);
  b.writeUInt8(XFRM_DIR[p.dir], 160);
  return b;
}

export function newPolicyMsg(p: PolicySpec): NlMsg {
  return {
    type: XFRM_MSG.NEWPOLICY,
    flags: NLM_F.CREATE | NLM_F.EXCL,
    payload: [policyInfo(p), ...formatAttribute({ type: XFRMA_TMPL, data: userTmpl(p.src, p.dst, p.reqid) })],
    op: 'add xfrm policy',
    target: `${p.dir} udp ${p.src}->${p.dst}:${p.dport}`,
  };
}

/** xfrm_userpolicy_id (64 bytes): selector + dir. */
export function delPolicyMsg(p: Flow & { dir: XfrmDir }): NlMsg {
  const b = Buffer.alloc(64);
  writeSelector(b, 0, p);
  b.writeUInt8(XFRM_DIR[p.dir], 60);
  return { type: XFRM_MSG.DELPOLICY, payload: b, op: 'delete xfrm policy', target: `${p.dir} udp ${p.src}->${p.dst}:${p.dport}` };
}

export interface SaState {
  src: string;
  dst: string;
  spi: number;
  reqid: number;
  dport: number;
}
export interface PolicyState extends Flow {
  dir: XfrmDir;
  proto: number;
  reqid?: number;
}

export function parseSelector(b: Buffer, o = 0): Flow & { proto: number } {
  return {
    dst: ip4str(b.subarray(o, o + 4))!,
    src: ip4str(b.subarray(o + 16, o + 20))!,
    dport: b.readUInt16BE(o + 32),
    proto: b.readUInt8(o + 44),
  };
}

export async function dumpSas(gw: NetlinkGateway): Promise<SaState[]> {
  const msgs = await gw.dump({ type: XFRM_MSG.GETSA, payload: Buffer.alloc(0), op: 'dump', target: 'xfrm states' });
  return msgs
    .filter((m) => m.type === XFRM_MSG.NEWSA && m.data.length >= 224 && m.data.readUInt8(76) === IPPROTO_ESP)
    .map((m) => ({
      src: ip4str(m.data.subarray(80, 84))!,
      dst: ip4str(m.data.subarray(56, 60))!,
      spi: m.data.readUInt32BE(72),
      reqid: m.data.readUInt32LE(208),
      dport: m.data.readUInt16BE(32),
    }));
}

export async function dumpPolicies(gw: NetlinkGateway): Promise<PolicyState[]> {
  const msgs = await gw.dump({ type: XFRM_MSG.GETPOLICY, payload: Buffer.alloc(0), op: 'dump', target: 'xfrm policies' });
  const out: PolicyState[] = [];
  for (const m of msgs) {
    if (m.type !== XFRM_MSG.NEWPOLICY || m.data.length < 168) continue;
    const dir = m.data.readUInt8(160);
    if (dir > 1) continue; // fwd policies are not ours
    const p: PolicyState = { ...parseSelector(m.data), dir: dir === 0 ? 'in' : 'out' };
    nl.parseAttributes(m.data.subarray(168), (a) => {
      if (a.type === XFRMA_TMPL && a.data.length >= 48) p.reqid = a.data.readUInt32LE(44);
    });
    out.push(p);
  }
  return out;
}
