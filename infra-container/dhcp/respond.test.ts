import { describe, expect, it } from 'vitest';
import { sampleConfig } from '../../test/support/infra-config.js';
import { buildDhcpIndex } from './bindings.js';
import { BROADCAST_FLAG, encodeDhcp, parseDhcp } from './codec.js';
import { decodeDomainSearch, MSG, OPT } from './options.js';
import { respond } from './respond.js';
import { clientMessage, opt50, opt54 } from '../../test/support/dhcp-client.js';

const index = buildDhcpIndex(sampleConfig());
const WEB = '02:00:00:00:00:10';
const NOW = 1_700_000_000_000;
const run = (buf: Buffer) => respond(index, parseDhcp(buf), NOW);
const typeOf = (p: Buffer) => parseDhcp(p).options.get(OPT.MSG_TYPE)?.[0];

describe('dhcp respond', () => {
  it('DISCOVER → OFFER of the bound address with every network option', () => {
    const r = run(clientMessage(MSG.DISCOVER, WEB, { flags: BROADCAST_FLAG }));
    expect(r.outcome).toBe('offer');
    expect(r.reply).toMatchObject({ address: '255.255.255.255', port: 68 });
    const p = parseDhcp(r.reply!.packet);
    expect(p.op).toBe(2);
    expect(p.xid).toBe(0x1234abcd);
    expect(p.yiaddr).toBe('10.77.0.10');
    expect(p.chaddr).toBe(WEB);
    const o = p.options;
    expect(o.get(OPT.MSG_TYPE)).toEqual(Buffer.from([MSG.OFFER]));
    expect([...o.get(OPT.SUBNET_MASK)!]).toEqual([255, 255, 255, 0]);
    expect([...o.get(OPT.ROUTER)!]).toEqual([10, 77, 0, 1]);
    expect([...o.get(OPT.DNS)!]).toEqual([10, 77, 0, 2]);
    expect([...o.get(OPT.SERVER_ID)!]).toEqual([10, 77, 0, 2]);
    expect(o.get(OPT.DOMAIN_NAME)!.toString()).toBe('net.t1.freight.internal');
    expect(decodeDomainSearch(o.get(OPT.DOMAIN_SEARCH)!)).toEqual(['net.t1.freight.internal']);
    expect(o.get(OPT.MTU)!.readUInt16BE()).toBe(1450);
    expect(o.get(OPT.LEASE_TIME)!.readUInt32BE()).toBe(3600);
    expect(o.get(OPT.T1)!.readUInt32BE()).toBe(1800);
    expect(o.get(OPT.T2)!.readUInt32BE()).toBe(3150);
    expect(r.reply!.packet.length).toBeGreaterThanOrEqual(300);
  });

  it("adds the network's own options: classless routes (121), NTP (42), more DNS servers and search domains", () => {
    const dhcpOptions = {
      routes: [
        { destination: '192.168.0.0/16', gateway: '10.77.0.1' },
        { destination: '0.0.0.0/0', gateway: '10.77.0.1' },
        { destination: '172.16.5.128/25', gateway: '10.77.0.3' },
      ],
      ntp: ['10.77.0.4', '10.77.0.5'],
      dns: ['10.77.0.6'],
      search: ['corp.example'],
    };
    const idx = buildDhcpIndex({ ...sampleConfig(), dhcpOptions });
    const o = parseDhcp(respond(idx, parseDhcp(clientMessage(MSG.DISCOVER, WEB)), NOW).reply!.packet).options;
    expect([...o.get(OPT.CLASSLESS_ROUTES)!]).toEqual([16, 192, 168, 10, 77, 0, 1, 0, 10, 77, 0, 1, 25, 172, 16, 5, 128, 10, 77, 0, 3]);
    expect([...o.get(OPT.NTP)!]).toEqual([10, 77, 0, 4, 10, 77, 0, 5]);
    expect([...o.get(OPT.DNS)!]).toEqual([10, 77, 0, 2, 10, 77, 0, 6]);
    expect(decodeDomainSearch(o.get(OPT.DOMAIN_SEARCH)!)).toEqual(['net.t1.freight.internal', 'corp.example']);
    // none set: neither 121 nor 42
    const plain = parseDhcp(run(clientMessage(MSG.DISCOVER, WEB)).reply!.packet).options;
    expect([plain.has(OPT.CLASSLESS_ROUTES), plain.has(OPT.NTP)]).toEqual([false, false]);
  });

  it('omits the router when the network has no gateway', () => {
    const noGw = buildDhcpIndex(sampleConfig({ network: { ...sampleConfig().network, gateway: null } }));
    const r = respond(noGw, parseDhcp(clientMessage(MSG.DISCOVER, WEB)), NOW);
    expect(parseDhcp(r.reply!.packet).options.has(OPT.ROUTER)).toBe(false);
  });

  it('sends the router’s other networks as classless static routes (option 121, RFC 3442), with the default route', () => {
    const routed = buildDhcpIndex(
      sampleConfig({
        network: {
          ...sampleConfig().network,
          routes: [
            { cidr: '10.78.0.0/16', via: '10.77.0.1' },
            { cidr: '10.79.1.0/24', via: '10.77.0.1' },
          ],
        },
      }),
    );
    const o = parseDhcp(respond(routed, parseDhcp(clientMessage(MSG.DISCOVER, WEB)), NOW).reply!.packet).options;
    expect([...o.get(OPT.CLASSLESS_ROUTES)!]).toEqual([16, 10, 78, 10, 77, 0, 1, 24, 10, 79, 1, 10, 77, 0, 1, 0, 10, 77, 0, 1]);
    expect([...o.get(OPT.ROUTER)!]).toEqual([10, 77, 0, 1]);
    expect(index.network.some(([code]) => code === OPT.CLASSLESS_ROUTES)).toBe(false); // no router, no routes
  });

  it('ignores an unknown MAC for every message type', () => {
    for (const t of [MSG.DISCOVER, MSG.REQUEST, MSG.INFORM]) {
      expect(run(clientMessage(t, '02:00:00:00:00:99', {}, [opt50('10.77.0.10')]))).toMatchObject({ outcome: 'unknown_mac', reply: null });
    }
  });

  it('REQUEST selecting: ACK ours, NAK a wrong address, silence for another server id', () => {
    const ack = run(clientMessage(MSG.REQUEST, WEB, {}, [opt50('10.77.0.10'), opt54('10.77.0.2')]));
    expect(ack.outcome).toBe('ack');
    expect(ack.leaseUntil).toBe(NOW + 3600_000);
    expect(typeOf(ack.reply!.packet)).toBe(MSG.ACK);
    expect(parseDhcp(ack.reply!.packet).yiaddr).toBe('10.77.0.10');
    const wrong = run(clientMessage(MSG.REQUEST, WEB, {}, [opt50('10.77.0.50'), opt54('10.77.0.2')]));
    expect(wrong.outcome).toBe('nak');
    expect(wrong.reply!.address).toBe('255.255.255.255');
    const nakPkt = parseDhcp(wrong.reply!.packet);
    expect(nakPkt.options.get(OPT.MSG_TYPE)?.[0]).toBe(MSG.NAK);
    expect(nakPkt.yiaddr).toBe('0.0.0.0');
    expect(nakPkt.options.has(OPT.LEASE_TIME)).toBe(false);
    expect(run(clientMessage(MSG.REQUEST, WEB, {}, [opt50('10.77.0.10'), opt54('10.77.0.3')]))).toMatchObject({
      outcome: 'other_server',
      reply: null,
    });
  });

  it('REQUEST init-reboot (option 50, no server id): ACK or NAK', () => {
    expect(run(clientMessage(MSG.REQUEST, WEB, {}, [opt50('10.77.0.10')])).outcome).toBe('ack');
    const r = run(clientMessage(MSG.REQUEST, WEB, {}, [opt50('192.168.1.5')]));
    expect(r.outcome).toBe('nak');
    expect(r.reason).toMatch(/not on this network/);
  });

  it('REQUEST renewing/rebinding (ciaddr): ACK unicast to ciaddr, NAK a foreign ciaddr', () => {
    const r = run(clientMessage(MSG.REQUEST, WEB, { ciaddr: '10.77.0.10' }));
    expect(r.outcome).toBe('ack');
    expect(r.reply).toMatchObject({ address: '10.77.0.10', port: 68 });
    expect(parseDhcp(r.reply!.packet).ciaddr).toBe('10.77.0.10');
    const bad = run(clientMessage(MSG.REQUEST, WEB, { ciaddr: '10.77.0.11' }));
    expect(bad.outcome).toBe('nak');
    expect(bad.reply!.address).toBe('255.255.255.255');
    expect(run(clientMessage(MSG.REQUEST, WEB)).outcome).toBe('ignored');
  });

  it('sends to the relay (giaddr) on the server port and echoes option 82', () => {
    const r = run(clientMessage(MSG.DISCOVER, WEB, { giaddr: '10.77.0.1' }, [[OPT.RELAY_AGENT, Buffer.from([1, 2, 0x61, 0x62])]]));
    expect(r.reply).toMatchObject({ address: '10.77.0.1', port: 67 });
    const p = parseDhcp(r.reply!.packet);
    expect(p.giaddr).toBe('10.77.0.1');
    expect(p.options.get(OPT.RELAY_AGENT)).toEqual(Buffer.from([1, 2, 0x61, 0x62]));
  });

  it('INFORM → ACK without yiaddr or lease times, to ciaddr', () => {
    const r = run(clientMessage(MSG.INFORM, WEB, { ciaddr: '10.77.0.10' }));
    expect(r.outcome).toBe('inform');
    expect(r.reply!.address).toBe('10.77.0.10');
    const p = parseDhcp(r.reply!.packet);
    expect(p.options.get(OPT.MSG_TYPE)?.[0]).toBe(MSG.ACK);
    expect(p.yiaddr).toBe('0.0.0.0');
    for (const o of [OPT.LEASE_TIME, OPT.T1, OPT.T2]) expect(p.options.has(o)).toBe(false);
    expect(p.options.get(OPT.MTU)!.readUInt16BE()).toBe(1450);
  });

  it('RELEASE and DECLINE are recorded, never answered', () => {
    expect(run(clientMessage(MSG.RELEASE, WEB, { ciaddr: '10.77.0.10' }, [opt54('10.77.0.2')]))).toMatchObject({
      outcome: 'release',
      reply: null,
    });
    expect(run(clientMessage(MSG.DECLINE, WEB, {}, [opt50('10.77.0.10'), opt54('10.77.0.2')]))).toMatchObject({
      outcome: 'decline',
      ip: '10.77.0.10',
      reply: null,
    });
    expect(run(clientMessage(MSG.DECLINE, WEB, {}, [opt54('10.9.9.9')])).outcome).toBe('other_server');
  });

  it('ignores replies, non-Ethernet hardware and messages without a type', () => {
    const reply = clientMessage(MSG.DISCOVER, WEB);
    reply[0] = 2;
    expect(run(reply).outcome).toBe('ignored');
    const noType = clientMessage(MSG.DISCOVER, WEB);
    noType[240] = 0; // option 53 code → pad
    noType[241] = 0;
    noType[242] = 0;
    expect(run(noType).outcome).toBe('ignored');
  });

  it('codec round-trips every fixed field', () => {
    const buf = clientMessage(MSG.DISCOVER, WEB, {
      xid: 0xdeadbeef,
      secs: 9,
      flags: BROADCAST_FLAG,
      hops: 1,
      ciaddr: '1.2.3.4',
      yiaddr: '5.6.7.8',
      siaddr: '9.10.11.12',
      giaddr: '13.14.15.16',
    });
    expect(parseDhcp(buf)).toMatchObject({
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 1,
      xid: 0xdeadbeef,
      secs: 9,
      flags: BROADCAST_FLAG,
      ciaddr: '1.2.3.4',
      yiaddr: '5.6.7.8',
      siaddr: '9.10.11.12',
      giaddr: '13.14.15.16',
      chaddr: WEB,
    });
    expect(() => parseDhcp(buf.subarray(0, 200))).toThrow(/too short/);
    const noCookie = Buffer.from(buf);
    noCookie[236] = 0;
    expect(() => parseDhcp(noCookie)).toThrow(/cookie/);
  });

  it('a reply copied from the raw request is byte for byte what encodeDhcp makes from the parsed one', () => {
    const req = parseDhcp(
      clientMessage(MSG.REQUEST, WEB, {
        ciaddr: '10.77.0.10',
        giaddr: '10.9.0.1',
        flags: BROADCAST_FLAG,
        xid: 0xfedc0123,
        secs: 9,
        hops: 2,
      }),
    );
    const r = respond(index, req, NOW);
    const ack = index.byMac.get(WEB)!.ack;
    const fields = { htype: 1, hlen: 6, hops: 0, xid: 0xfedc0123, secs: 0, flags: BROADCAST_FLAG, siaddr: '0.0.0.0', chaddr: WEB };
    const want = encodeDhcp({ op: 2, ...fields, ciaddr: '10.77.0.10', yiaddr: '10.77.0.10', giaddr: '10.9.0.1' }, ack);
    expect(r.reply!.packet.equals(want)).toBe(true);
  });
});
