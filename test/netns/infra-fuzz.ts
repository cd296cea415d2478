/**
 * Sends seeded random and mutated DHCP and DNS packets to the infra server
 * (run inside a client namespace by infra.test.ts). Usage:
 *   tsx test/netns/infra-fuzz.ts SERVER_IP COUNT SEED
 */
import dgram from 'node:dgram';
import { encodeQuery } from '../support/dns-message.js';
import { clientMessage, opt50, opt54 } from '../support/dhcp-client.js';

const [server, countArg, seedArg] = process.argv.slice(2);
const count = Number(countArg);
let seed = Number(seedArg) >>> 0;
// mulberry32: a small seeded PRNG so a failing run can be replayed
const rand = (): number => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n: number): number => Math.floor(rand() * n);

const dnsSeeds = [
  encodeQuery('web.net.t1.freight.internal', 1),
  encodeQuery('web', 28, { edns: 1232 }),
  encodeQuery('10.0.77.10.in-addr.arpa', 12),
  encodeQuery('nope.net.t1.freight.internal', 255),
];
const dhcpSeeds = [
  clientMessage(1, '02:00:00:00:00:10'),
  clientMessage(3, '02:00:00:00:00:10', {}, [opt50('10.77.0.10'), opt54('10.77.0.2')]),
  clientMessage(8, '02:00:00:00:00:11', { ciaddr: '10.77.0.11' }),
];

function mutate(seedPkt: Buffer): Buffer {
  const kind = int(5);
  if (kind === 0) return Buffer.from(Array.from({ length: int(600) }, () => int(256)));
  const b = Buffer.from(seedPkt);
  if (kind === 1) return b.subarray(0, int(b.length));
  const flips = 1 + int(8);
  for (let i = 0; i < flips; i++) b[int(b.length)] = kind === 2 ? int(256) : 0xc0 | int(64);
  if (kind === 4) return Buffer.concat([b, Buffer.from(Array.from({ length: int(64) }, () => int(256)))]);
  return b;
}

const sock = dgram.createSocket('udp4');
sock.bind(0, () => {
  sock.setBroadcast(true);
  let i = 0;
  const next = (): void => {
    // send in small bursts, letting the event loop drain replies
    for (let k = 0; k < 20 && i < count; k++, i++) {
      const dns = rand() < 0.5;
      const pkt = mutate(dns ? dnsSeeds[int(dnsSeeds.length)] : dhcpSeeds[int(dhcpSeeds.length)]);
      sock.send(pkt, dns ? 53 : 67, server);
    }
    if (i < count) setTimeout(next, 4);
    else setTimeout(() => sock.close(), 100);
  };
  next();
});
sock.on('message', () => undefined);
