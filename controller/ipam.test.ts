import { describe, expect, it } from 'vitest';
import { intToIp4 as intToIp, ip4ToInt as ipToInt } from '../protocol/addr.js';
import { infraAddress, macFor, randomMac, reservedAddresses } from './ipam.js';

describe('ipam pure helpers', () => {
  it('reserves the highest host address for infra, unless it is the gateway', () => {
    expect(infraAddress('10.0.0.0/24')).toBe('10.0.0.254');
    expect(infraAddress('10.0.0.0/24', '10.0.0.254')).toBe('10.0.0.253');
    expect(infraAddress('10.0.0.0/29', '10.0.0.1')).toBe('10.0.0.6');
    expect(reservedAddresses('10.0.0.0/29', '10.0.0.1').map(intToIp)).toEqual(['10.0.0.6', '10.0.0.1']);
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
});
