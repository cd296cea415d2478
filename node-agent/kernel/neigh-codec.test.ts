import { describe, expect, it } from 'vitest';
import { AF_BRIDGE, AF_INET, ip4, macBuf, neighPayload } from './codec.js';
import { NTF, NUD, packNeigh } from './neigh-codec.js';

const lib = (...a: Parameters<typeof neighPayload>) => Buffer.concat(neighPayload(...a));

/** Attributes as a type → bytes map: the kernel reads them by type, whatever their order. */
function attrs(b: Buffer): Map<number, string> {
  const m = new Map<number, string>();
  for (let o = 12; o + 4 <= b.length;) {
    const len = b.readUInt16LE(o);
    m.set(b.readUInt16LE(o + 2), b.subarray(o + 4, o + len).toString('hex'));
    o += (len + 3) & ~3;
  }
  return m;
}

describe('packNeigh', () => {
  const cases: Array<[string, Parameters<typeof neighPayload>, Parameters<typeof packNeigh>]> = [
    [
      'FDB self entry with a VTEP',
      [
        { family: AF_BRIDGE, ifindex: 7, state: { permanent: true }, flags: { self: true } },
        { lladdr: macBuf('02:00:0a:00:00:02'), dst: ip4('198.18.0.2') },
      ],
      [
        { family: AF_BRIDGE, ifindex: 7, state: NUD.PERMANENT, flags: NTF.SELF },
        { lladdr: '02:00:0a:00:00:02', dst: '198.18.0.2' },
      ],
    ],
    [
      'FDB master entry',
      [{ family: AF_BRIDGE, ifindex: 300, state: { noarp: true }, flags: { master: true } }, { lladdr: macBuf('02:ff:00:00:00:01') }],
      [{ family: AF_BRIDGE, ifindex: 300, state: NUD.NOARP, flags: NTF.MASTER }, { lladdr: '02:ff:00:00:00:01' }],
    ],
    [
      'ARP neighbour',
      [
        { family: AF_INET, ifindex: 9, state: { permanent: true } },
        { dst: ip4('10.0.0.254'), lladdr: macBuf('02:00:00:01:00:fe') },
      ],
      [
        { family: AF_INET, ifindex: 9, state: NUD.PERMANENT },
        { dst: '10.0.0.254', lladdr: '02:00:00:01:00:fe' },
      ],
    ],
    [
      'neighbour delete',
      [{ family: AF_INET, ifindex: 9 }, { dst: ip4('10.1.2.3') }],
      [{ family: AF_INET, ifindex: 9 }, { dst: '10.1.2.3' }],
    ],
  ];
  it.each(cases)('%s: same header and attributes as the library encoder', (_n, a, b) => {
    const want = lib(...a);
    const got = packNeigh(...b);
    // the library leaves the last attribute unpadded (the gateway pads it); we pad ourselves
    expect(got.length).toBe((want.length + 3) & ~3);
    expect(got.subarray(0, 12).toString('hex')).toBe(want.subarray(0, 12).toString('hex'));
    expect(attrs(got)).toEqual(attrs(want));
  });
  it('refuses malformed addresses instead of sending zeros', () => {
    expect(() => packNeigh({ family: AF_INET, ifindex: 1 }, { dst: '10.0.0' })).toThrow(/IPv4/);
    expect(() => packNeigh({ family: AF_INET, ifindex: 1 }, { dst: '10.0.0.256' })).toThrow(/IPv4/);
    expect(() => packNeigh({ family: AF_BRIDGE, ifindex: 1 }, { lladdr: '02:00:00:00:00:zz' })).toThrow(/MAC/);
  });
});
