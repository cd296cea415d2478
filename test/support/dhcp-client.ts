import { encodeDhcp, type DhcpPacket } from '../../infra-container/dhcp/codec.js';
import { ipv4, OPT, u8, type OptionList } from '../../infra-container/dhcp/options.js';

/** Builds a client message (unit tests, fuzzing, bench warm-up). */
export function clientMessage(type: number, mac: string, over: Partial<Omit<DhcpPacket, 'options'>> = {}, extra: OptionList = []): Buffer {
  const Z = '0.0.0.0';
  return encodeDhcp(
    {
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 0x1234abcd,
      secs: 0,
      flags: 0,
      ciaddr: Z,
      yiaddr: Z,
      siaddr: Z,
      giaddr: Z,
      chaddr: mac,
      ...over,
    },
    [[OPT.MSG_TYPE, u8(type)], ...extra],
  );
}

export const opt50 = (ip: string): [number, Buffer] => [OPT.REQUESTED_IP, ipv4(ip)];
export const opt54 = (ip: string): [number, Buffer] => [OPT.SERVER_ID, ipv4(ip)];
