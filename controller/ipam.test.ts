import { describe, expect, it } from 'vitest';
import { firstFree, hostRange, infraAddress, intToIp, ipToInt, lowestFreeVni, macFor, poolSize, randomMac, reservedAddresses } from './ipam.js';

describe('ipam pure helpers', () => {
  it('converts addresses both ways, including the extremes', () => {
    expect(ipToInt('0.0.0.0')).toBe(0);
    expect(ipToInt('10.0.0.1')).toBe(167772161);
    expect(ipToInt('255.255.255.255')).toBe(0xffffffff);
    for (const ip of ['1.2.3.4', '192.168.255.0', '255.255.255.255']) expect(intToIp(ipToInt(ip))).toBe(ip);
    expect(() => ipToInt('10.0.0.256')).toThrow(/bad octet/);
    expect(() => ipToInt('10.0.0')).toThrow(/not an IPv4/);
    expect(() => intToIp(2 ** 32)).toThrow(RangeError);
  });

  it('computes host ranges of a CIDR', () => {
    const r = hostRange('10.1.2.0/24');
    expect([intToIp(r.network), intToIp(r.first), intToIp(r.last), intToIp(r.broadcast)]).toEqual(['10.1.2.0', '10.1.2.1', '10.1.2.254', '10.1.2.255']);
    const s = hostRange('192.168.0.8/30');
    expect([intToIp(s.first), intToIp(s.last)]).toEqual(['192.168.0.9', '192.168.0.10']);
    expect(() => hostRange('10.0.0.0/31')).toThrow(/prefix/);
  });

  it('reserves the highest host address for infra, unless it is the gateway', () => {
    expect(infraAddress('10.0.0.0/24')).toBe('10.0.0.254');
    expect(infraAddress('10.0.0.0/24', '10.0.0.254')).toBe('10.0.0.253');
    expect(infraAddress('10.0.0.0/29', '10.0.0.1')).toBe('10.0.0.6');
    expect(reservedAddresses('10.0.0.0/29', '10.0.0.1').map(intToIp)).toEqual(['10.0.0.6', '10.0.0.1']);
    expect(poolSize('10.0.0.0/29', '10.0.0.1')).toBe(4);
    expect(poolSize('10.0.0.0/24')).toBe(253);
  });

  it('finds the lowest free address, skipping used and reserved ones, and null when full', () => {
    const r = hostRange('10.0.0.0/29');
    const used = ['10.0.0.2', '10.0.0.3'].map(ipToInt);
    const reserved = reservedAddresses('10.0.0.0/29', '10.0.0.1');
    expect(intToIp(firstFree(r, used, reserved)!)).toBe('10.0.0.4');
    expect(firstFree(r, ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map(ipToInt), reserved)).toBeNull();
  });

  it('derives locally administered unicast MACs from VNI and address, distinct within a /16', () => {
    expect(macFor(1, '10.0.0.6')).toBe('02:00:00:01:00:06');
    expect(macFor(0xabcdef, '10.0.1.2')).toBe('02:ab:cd:ef:01:02');
    const macs = new Set<string>();
    for (let a = ipToInt('10.9.0.1'); a < ipToInt('10.9.255.255'); a += 97) macs.add(macFor(7, intToIp(a)));
    expect(macs.size).toBe(Math.ceil((ipToInt('10.9.255.255') - ipToInt('10.9.0.1')) / 97));
    const m = randomMac(new Uint8Array([1, 2, 3, 4, 255]));
    expect(m).toBe('02:01:02:03:04:ff');
    expect(parseInt(m.slice(0, 2), 16) & 3).toBe(2); // local bit set, multicast bit clear
  });

  it('picks the lowest free VNI', () => {
    expect(lowestFreeVni([])).toBe(1);
    expect(lowestFreeVni([1, 2, 3, 7])).toBe(4);
    expect(lowestFreeVni([2, 3])).toBe(1);
    expect(lowestFreeVni([16_777_215])).toBe(1);
  });
});
