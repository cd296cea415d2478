/** DNS numbers used here (RFC 1035, 3596, 6891). */
export const TYPE = { A: 1, NS: 2, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, OPT: 41, ANY: 255 } as const;
export const CLASS = { IN: 1, ANY: 255 } as const;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const RCODE_NAME: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  16: 'BADVERS',
};
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080 } as const;
export const HEADER_LEN = 12;
/** Classic UDP limit without EDNS0. */
export const UDP_MIN = 512;
/** Payload size we advertise and the most we send over UDP (DNS flag day 2020). */
export const UDP_ADVERTISED = 1232;
export const UDP_MAX = 4096;
