import { readIp4 } from '../../protocol/addr.js';
import { inNetwork, replyOptions, type Binding, type DhcpIndex } from './bindings.js';
import { encodeReply, type DhcpPacket } from './codec.js';
import { destination, type Destination } from './destination.js';
import { encodeOptions, ipv4, MSG, OPT, text, u8, type OptionList } from './options.js';

export type Outcome = 'offer' | 'ack' | 'nak' | 'inform' | 'release' | 'decline' | 'unknown_mac' | 'other_server' | 'ignored';

export interface Result {
  outcome: Outcome;
  mac: string;
  /** The bound address concerned, when there is one. */
  ip?: string;
  /** For ACKs: when the lease ends (ms since epoch). */
  leaseUntil?: number;
  reply: (Destination & { packet: Buffer }) | null;
  /** Why a NAK or ignore happened, for the log. */
  reason?: string;
}

export interface Ports {
  server: number;
  client: number;
}

const ZERO = '0.0.0.0';

/**
 * Pure DHCP server logic over static bindings only (RFC 2131 §4.3). Unknown
 * MACs, other servers' transactions and nonsense are ignored, never answered.
 */
export function respond(index: DhcpIndex, req: DhcpPacket, now: number, ports: Ports = { server: 67, client: 68 }): Result {
  const mac = req.chaddr;
  const type = req.options.get(OPT.MSG_TYPE)?.[0];
  if (req.op !== 1 || req.htype !== 1 || req.hlen !== 6 || type === undefined)
    return { outcome: 'ignored', mac, reply: null, reason: 'not an Ethernet DHCP request' };
  const binding = index.byMac.get(mac);
  if (!binding) return { outcome: 'unknown_mac', mac, reply: null };
  const serverId = optIp(req, OPT.SERVER_ID);
  const forOther = serverId !== undefined && serverId !== index.serverIp;
  const ip = binding.ip;
  switch (type) {
    case MSG.DISCOVER:
      return { outcome: 'offer', mac, ip, reply: reply(index, req, MSG.OFFER, binding, ports) };
    case MSG.REQUEST: {
      if (forOther) return { outcome: 'other_server', mac, ip, reply: null, reason: `server id ${serverId}` };
      const wanted = [optIp(req, OPT.REQUESTED_IP), req.ciaddr !== ZERO ? req.ciaddr : undefined].filter(
        (x): x is string => x !== undefined,
      );
      if (wanted.length === 0) return { outcome: 'ignored', mac, ip, reply: null, reason: 'REQUEST without ciaddr or option 50' };
      const wrong = wanted.find((w) => w !== ip);
      if (wrong !== undefined) {
        const reason = inNetwork(index, wrong) ? `requested ${wrong}, bound ${ip}` : `requested ${wrong}, not on this network`;
        return { outcome: 'nak', mac, ip, reply: nak(index, req, ports), reason };
      }
      return { outcome: 'ack', mac, ip, leaseUntil: now + index.leaseSeconds * 1000, reply: reply(index, req, MSG.ACK, binding, ports) };
    }
    case MSG.INFORM:
      return { outcome: 'inform', mac, ip, reply: reply(index, req, MSG.INFORM, binding, ports) };
    case MSG.RELEASE:
      return forOther ? { outcome: 'other_server', mac, reply: null } : { outcome: 'release', mac, ip, reply: null };
    case MSG.DECLINE:
      return forOther
        ? { outcome: 'other_server', mac, reply: null }
        : { outcome: 'decline', mac, ip: optIp(req, OPT.REQUESTED_IP) ?? ip, reply: null };
    default:
      return { outcome: 'ignored', mac, reply: null, reason: `message type ${type}` };
  }
}

function optIp(req: DhcpPacket, code: number): string | undefined {
  const v = req.options.get(code);
  return v && v.length === 4 ? readIp4(v) : undefined;
}

/** OFFER, ACK, or the ACK to an INFORM (no yiaddr, no lease times). Precomputed options unless a relay needs option 82 echoed. */
function reply(index: DhcpIndex, req: DhcpPacket, kind: number, b: Binding, ports: Ports): Result['reply'] {
  const inform = kind === MSG.INFORM;
  const type = inform ? MSG.ACK : kind;
  const options = req.options.has(OPT.RELAY_AGENT)
    ? replyOptions(index, type, !inform, b.name)
    : inform
      ? b.inform
      : kind === MSG.OFFER
        ? b.offer
        : b.ack;
  return finish(req, inform ? null : b.ipBytes, type === MSG.ACK, options, false, ports);
}

function nak(index: DhcpIndex, req: DhcpPacket, ports: Ports): Result['reply'] {
  const options: OptionList = [
    [OPT.MSG_TYPE, u8(MSG.NAK)],
    [OPT.SERVER_ID, ipv4(index.serverIp)],
    [OPT.MESSAGE, text('requested address is not bound to this client')],
  ];
  return finish(req, null, false, options, true, ports);
}

function finish(
  req: DhcpPacket,
  yiaddr: Buffer | null,
  echoCiaddr: boolean,
  options: OptionList | Buffer,
  isNak: boolean,
  ports: Ports,
): Result['reply'] {
  const relay = req.options.get(OPT.RELAY_AGENT);
  if (relay && !Buffer.isBuffer(options)) options.push([OPT.RELAY_AGENT, relay]); // RFC 3046: echo, last
  const packet = encodeReply(req, yiaddr, echoCiaddr, Buffer.isBuffer(options) ? options : encodeOptions(options));
  const to = destination(req, isNak, ports);
  return { address: to.address, port: to.port, packet };
}
