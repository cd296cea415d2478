import { Address4 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  hostCount,
  hostRange,
  inCidr,
  intToIp4,
  ip4Bytes,
  ip4ToInt,
  isIp4,
  mask4,
  maskString4,
  parseCidr,
  parseIp,
  readIp4,
  reverseName,
  reverseZone4,
} from './addr.js';
import { Cidr4, Ipv4, Mac } from './common.js';

const corpus = [
  '0.0.0.0',
  '10.0.0.1',
  '255.255.255.255',
  '198.18.0.2',
  '1.2.3.4',
  '10.0.0.256',
  '10.0.0',
  '10.0.0.0.1',
  '010.0.0.1',
  '1.2.3.04',
  '1..2.3',
  '.1.2.3',
  '1.2.3.',
  '',
  ' 1.2.3.4',
  '1.2.3.4 ',
  '1e1.0.0.1',
  '0x1.0.0.1',
  '-1.0.0.0',
  '1.2.3.4/24',
  '::1',
  '1000.0.0.1',
  '1.2.3.4\n',
];

describe('the address module', () => {
  it('parses dotted quads exactly as ip-address does, to the same numbers', () => {
    for (const s of corpus) {
      expect(isIp4(s), s).toBe(Address4.isValid(s) && !s.includes('/'));
      if (isIp4(s)) expect(ip4ToInt(s), s).toBe(Number(new Address4(s).bigInt()));
    }
  });

  it('converts addresses both ways, including the extremes (moved from ipam.test.ts)', () => {
    expect(ip4ToInt('0.0.0.0')).toBe(0);
    expect(ip4ToInt('10.0.0.1')).toBe(167772161);
    expect(ip4ToInt('255.255.255.255')).toBe(0xffffffff);
    for (const ip of ['1.2.3.4', '192.168.255.0', '255.255.255.255']) expect(intToIp4(ip4ToInt(ip))).toBe(ip);
    expect(() => ip4ToInt('10.0.0.256')).toThrow(/bad octet/);
    expect(() => ip4ToInt('10.0.0')).toThrow(/not an IPv4/);
    expect(() => intToIp4(2 ** 32)).toThrow(RangeError);
  });

  it('writes and reads network-order bytes', () => {
    expect([...ip4Bytes('10.1.2.3', '255.0.0.1')]).toEqual([10, 1, 2, 3, 255, 0, 0, 1]);
    expect(readIp4(Buffer.from([0, 198, 18, 0, 2]), 1)).toBe('198.18.0.2');
    expect(() => ip4Bytes('10.0.0')).toThrow(/IPv4/);
  });

  it('computes host ranges, masks and host counts of a CIDR (moved from ipam.test.ts)', () => {
    const r = hostRange('10.1.2.0/24');
    expect([intToIp4(r.network), intToIp4(r.first), intToIp4(r.last), intToIp4(r.broadcast)]).toEqual([
      '10.1.2.0',
      '10.1.2.1',
      '10.1.2.254',
      '10.1.2.255',
    ]);
    const s = hostRange('192.168.0.8/30');
    expect([intToIp4(s.first), intToIp4(s.last)]).toEqual(['192.168.0.9', '192.168.0.10']);
    expect(() => hostRange('10.0.0.0/31')).toThrow(/prefix/);
    expect([maskString4(0), maskString4(20), maskString4(32)]).toEqual(['0.0.0.0', '255.255.240.0', '255.255.255.255']);
    expect(mask4(24)).toBe(0xffffff00);
    expect([hostCount('10.0.0.0/29'), hostCount('10.0.0.0/24'), hostCount('10.0.0.0/8')]).toEqual([6, 254, 2 ** 24 - 2]);
  });

  it('names reverse zones and PTR owners, IPv6 included', () => {
    expect(reverseName('10.1.2.3')).toBe('3.2.1.10.in-addr.arpa');
    expect(reverseZone4('10.1.2.0/24')).toBe('2.1.10.in-addr.arpa');
    expect(reverseZone4('10.1.0.0/17')).toBe('1.10.in-addr.arpa');
    expect(reverseZone4('10.0.0.0/8')).toBe('10.in-addr.arpa');
    expect(reverseName('2001:db8::1')).toBe('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  });

  it('parses IPv4 and IPv6 addresses and CIDRs for membership', () => {
    expect(parseIp('banana')).toBeUndefined();
    expect(parseIp('fe80::1%eth0')?.correctForm()).toBe('fe80::1');
    expect(inCidr(parseIp('10.9.8.7')!, parseCidr('10.0.0.0/8')!)).toBe(true);
    expect(inCidr(parseIp('fd00::5')!, parseCidr('fd00::/8')!)).toBe(true);
    expect(inCidr(parseIp('10.9.8.7')!, parseCidr('fd00::/8')!)).toBe(false);
    for (const bad of ['10.0.0.0/33', 'example.com', '::/129', '1.2.3.4/x', '']) expect(parseCidr(bad), bad).toBeUndefined();
  });
});

// The regex schemas protocol/common.ts had before zod's own formats, as the oracle for "same answers".
const oldIpv4Re = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const oldCidr4 = (s: string): boolean => {
  const [a, p, ...rest] = s.split('/');
  if (rest.length || p === undefined || !oldIpv4Re.test(a) || !/^\d{1,2}$/.test(p)) return false;
  const len = Number(p);
  if (len < 8 || len > 30) return false;
  const n = a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n % 2 ** (32 - len) === 0;
};
const oldMac = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

describe('protocol schemas on zod formats', () => {
  it('accept and refuse what the regex schemas did', () => {
    for (const s of corpus) expect(Ipv4.safeParse(s).success, s).toBe(oldIpv4Re.test(s));
    const cidrs = [
      '10.0.0.0/24',
      '10.0.0.0/8',
      '10.0.0.0/7',
      '10.0.0.0/30',
      '10.0.0.0/31',
      '10.0.0.1/24',
      '10.0.0.0/33',
      'banana',
      '10.0.0.0',
      '10.0.0.0/',
      '10.0.0.0/24/1',
      '192.168.0.8/29',
      '0.0.0.0/8',
      '10.0.0.0/-1',
    ];
    for (const s of cidrs) expect(Cidr4.safeParse(s).success, s).toBe(oldCidr4(s));
    for (const s of [
      '02:00:00:00:00:01',
      '02:00:00:00:00:0A',
      '02-00-00-00-00-01',
      '02:00:00:00:00',
      '0200.0000.0001',
      'zz:00:00:00:00:01',
    ])
      expect(Mac.safeParse(s).success, s).toBe(oldMac.test(s));
  });

  it('keep their messages and show their formats in JSON Schema (OpenAPI)', () => {
    expect(Cidr4.safeParse('10.0.0.1/24').error?.issues[0].message).toMatch(/no host bits, prefix \/8 to \/30/);
    expect(Cidr4.safeParse('banana').error?.issues[0].message).toMatch(/no host bits, prefix \/8 to \/30/);
    expect(Ipv4.safeParse('10.0.0').error?.issues[0].message).toBe('an IPv4 address such as 10.0.0.1');
    expect(Mac.safeParse('02:00:00:00:00:0A').error?.issues[0].message).toBe('a lower-case MAC such as 02:00:00:00:00:01');
    const formats = [Ipv4, Cidr4, Mac].map((s) => (z.toJSONSchema(s) as { format?: string }).format);
    expect(formats).toEqual(['ipv4', 'cidrv4', 'mac']);
  });
});
