import { describe, expect, it } from 'vitest';
import { sampleConfig } from '../../test/support/infra-config.js';
import { answer } from './answer.js';
import { FLAG, RCODE, TYPE } from './constants.js';
import { encodeQuery } from '../../test/support/dns-message.js';
import { decodeAnswer, type DecodedMessage as Message } from '../../test/support/dns.js';
import { parseQuery } from './query.js';
import { buildZone } from './zone.js';

const zone = buildZone(sampleConfig());

function ask(
  name: string,
  type: number,
  opts: { edns?: number; transport?: 'udp' | 'tcp'; z?: typeof zone } = {},
): { msg: Message; raw: Buffer } {
  const q = encodeQuery(name, type, { id: 4242, edns: opts.edns });
  const a = answer(opts.z ?? zone, parseQuery(q), q, opts.transport ?? 'udp');
  if (a.kind !== 'response') throw new Error('expected a local response');
  return { msg: decodeAnswer(a.packet), raw: a.packet };
}

describe('dns answer', () => {
  it('answers A for the fqdn and the short name, authoritative, echoing id and question', () => {
    for (const name of ['web.net.t1.freight.internal', 'web']) {
      const { msg } = ask(name, TYPE.A);
      expect(msg.id).toBe(4242);
      expect(msg.flags & FLAG.QR).toBeTruthy();
      expect(msg.flags & FLAG.AA).toBeTruthy();
      expect(msg.rcode).toBe(RCODE.NOERROR);
      expect(msg.questions).toEqual([{ name, type: TYPE.A, class: 1 }]);
      expect(msg.answers.map((r) => [r.name, r.data, r.ttl])).toEqual([[name, '10.77.0.10', 30]]);
    }
  });

  it('matches case-insensitively and keeps the client case in the echo (0x20)', () => {
    const { msg, raw } = ask('WeB.NeT.t1.FREIGHT.internal', TYPE.A);
    expect(msg.answers.map((r) => r.data)).toEqual(['10.77.0.10']);
    expect(msg.questions[0].name).toBe('WeB.NeT.t1.FREIGHT.internal');
    // the answer owner is a compression pointer to the question
    const ownerAt = 12 + msg.questions[0].name.length + 2 + 4;
    expect(raw.subarray(ownerAt, ownerAt + 2)).toEqual(Buffer.from([0xc0, 0x0c]));
  });

  it('answers PTR for bindings and for the server', () => {
    const { msg } = ask('10.0.77.10.in-addr.arpa', TYPE.PTR);
    expect(msg.answers).toHaveLength(1);
    expect(msg.answers[0].data).toBe('web.net.t1.freight.internal');
    const infra = ask('2.0.77.10.in-addr.arpa', TYPE.PTR);
    expect(infra.msg.answers[0].data).toBe('infra.net.t1.freight.internal');
  });

  it('answers SOA and NS at the apex, with glue A for infra', () => {
    const soa = ask('net.t1.freight.internal', TYPE.SOA);
    expect(soa.msg.answers[0].type).toBe(TYPE.SOA);
    const r = soa.msg.answers[0];
    expect(r.data.mname).toBe('infra.net.t1.freight.internal');
    expect(r.data.serial).toBe(7); // serial = config revision
    const ns = ask('net.t1.freight.internal', TYPE.NS);
    expect(ns.msg.answers[0].data).toBe('infra.net.t1.freight.internal');
    expect(ns.msg.additional.map((a) => [a.name, a.data])).toEqual([['infra.net.t1.freight.internal', '10.77.0.2']]);
    expect(ask('infra.net.t1.freight.internal', TYPE.A).msg.answers[0].data).toBe('10.77.0.2');
  });

  it('NXDOMAIN with the SOA in authority for an unknown name in the zone', () => {
    const { msg } = ask('nope.net.t1.freight.internal', TYPE.A);
    expect(msg.rcode).toBe(RCODE.NXDOMAIN);
    expect(msg.flags & FLAG.AA).toBeTruthy();
    expect(msg.answers).toHaveLength(0);
    expect(msg.authority.map((r) => [r.name, r.type])).toEqual([['net.t1.freight.internal', TYPE.SOA]]);
    expect(msg.authority[0].data.mname).toBe('infra.net.t1.freight.internal');
    expect(ask('99.0.77.10.in-addr.arpa', TYPE.PTR).msg.rcode).toBe(RCODE.NXDOMAIN);
    // a name that merely ends with the same characters is not in the zone
    expect(ask('xnet.t1.freight.internal', TYPE.A).msg.rcode).toBe(RCODE.REFUSED);
  });

  it('NODATA (NOERROR, empty answer, SOA) for AAAA of a known name, short names included', () => {
    for (const name of ['web.net.t1.freight.internal', 'web']) {
      const { msg } = ask(name, TYPE.AAAA);
      expect(msg.rcode).toBe(RCODE.NOERROR);
      expect(msg.answers).toHaveLength(0);
      expect(msg.authority.map((r) => [r.name, r.type])).toEqual([['net.t1.freight.internal', TYPE.SOA]]);
    }
  });

  it('REFUSED outside the zone without upstreams, forward with them', () => {
    const { msg } = ask('example.com', TYPE.A);
    expect(msg.rcode).toBe(RCODE.REFUSED);
    expect(msg.flags & FLAG.AA).toBe(0);
    const fz = buildZone(sampleConfig({ upstreams: ['127.0.0.1'] }));
    const q = encodeQuery('example.com', TYPE.A);
    expect(answer(fz, parseQuery(q), q, 'udp')).toEqual({ kind: 'forward' });
    // local names are still answered locally
    expect(ask('web', TYPE.A, { z: fz }).msg.answers).toHaveLength(1);
  });

  it('echoes EDNS0 OPT and sets TC when the UDP answer exceeds the size', () => {
    const many = sampleConfig({
      bindings: Array.from({ length: 40 }, (_, i) => ({
        mac: `02:00:00:00:01:${(i + 16).toString(16)}`,
        ip: `10.77.0.${i + 20}`,
        name: 'many',
      })),
    });
    const z = buildZone(many);
    const plain = ask('many', TYPE.A, { z });
    expect(plain.msg.flags & FLAG.TC).toBeTruthy();
    expect(plain.msg.answers).toHaveLength(0);
    expect(plain.raw.length).toBeLessThanOrEqual(512);
    const big = ask('many', TYPE.A, { z, edns: 4096 });
    expect(big.msg.flags & FLAG.TC).toBe(0);
    expect(big.msg.answers).toHaveLength(40);
    const opt = big.msg.additional.find((r) => r.type === TYPE.OPT);
    expect(opt?.class).toBe(1232);
    expect(ask('many', TYPE.A, { z, transport: 'tcp' }).msg.answers).toHaveLength(40);
  });

  it('answers ANY with every record of the name, and REFUSED for class CHAOS', () => {
    expect(
      ask('net.t1.freight.internal', TYPE.ANY)
        .msg.answers.map((r) => r.type)
        .sort(),
    ).toEqual([TYPE.NS, TYPE.SOA]);
    const q = encodeQuery('web', TYPE.A);
    q.writeUInt16BE(3, q.length - 2);
    const a = answer(zone, parseQuery(q), q, 'udp');
    expect(a.kind === 'response' && a.rcode).toBe(RCODE.REFUSED);
  });

  it('NOTIMP for another opcode, BADVERS for EDNS version 1', () => {
    const q = encodeQuery('web', TYPE.A);
    q.writeUInt16BE(0x2000 | 0x0100, 2); // opcode 4 (NOTIFY)
    const a = answer(zone, parseQuery(q), q, 'udp');
    expect(a.kind === 'response' && a.rcode).toBe(RCODE.NOTIMP);
    const v = encodeQuery('web', TYPE.A, { edns: 1232 });
    v[v.length - 5] = 1; // OPT ttl: version byte
    const b = answer(zone, parseQuery(v), v, 'udp');
    expect(b.kind === 'response' && b.rcode).toBe(16);
    if (b.kind === 'response') expect(b.packet.readUInt32BE(b.packet.length - 6) >>> 24).toBe(1);
  });
});
