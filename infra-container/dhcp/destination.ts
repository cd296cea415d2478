import { BROADCAST_FLAG, type DhcpPacket } from './codec.js';

export interface Destination {
  address: string;
  port: number;
}

const ZERO = '0.0.0.0';
export const LIMITED_BROADCAST = '255.255.255.255';

/**
 * RFC 2131 §4.1: through a relay → the relay's server port; a NAK → broadcast;
 * a client with an address (ciaddr) → unicast to it; otherwise broadcast.
 * The last case (no broadcast flag, no ciaddr) asks for a unicast to yiaddr
 * at chaddr, which needs a raw socket to bypass ARP: we broadcast instead,
 * which every client accepts (the RFC allows it when unicast is impossible).
 */
export function destination(req: DhcpPacket, nak: boolean, ports: { server: number; client: number }): Destination {
  if (req.giaddr !== ZERO) return { address: req.giaddr, port: ports.server };
  if (nak) return { address: LIMITED_BROADCAST, port: ports.client };
  if (req.ciaddr !== ZERO) return { address: req.ciaddr, port: ports.client };
  if (req.flags & BROADCAST_FLAG) return { address: LIMITED_BROADCAST, port: ports.client };
  return { address: LIMITED_BROADCAST, port: ports.client };
}
