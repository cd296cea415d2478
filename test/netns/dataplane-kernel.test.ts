/**
 * Encoders against iproute2 (messages the kernel here refuses: geneve link, ESP state),
 * and the kernel objects this kernel accepts for real: xfrm policies, nft tables, probe.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nl from 'netlink';
import { isRoot, Namespaces, SKIP_REASON, uniqueTag } from '../support/netns.js';
import { createGeneveMsg } from '../../node-agent/kernel/geneve.js';
import { newSaMsg, FREIGHT_REQID } from '../../node-agent/kernel/xfrm.js';

if (!isRoot) console.warn(`kernel encoder tests skipped: ${SKIP_REASON}`);

interface Captured {
  type: number;
  flags: number;
  payload: Buffer;
}

/** Runs an iproute2 command under strace and returns the netlink messages it sent on fd 3/4. */
function capture(ns: string, args: string[]): Captured[] {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns, 'strace', '-f', '-e', 'trace=sendmsg', '-e', 'write=3,4', '-xx', '-s', '65535', ...args],
    { encoding: 'utf8' },
  );
  const hex = r.stderr
    .split('\n')
    .filter((l) => l.startsWith(' | '))
    .map((l) => l.slice(10, 58).replace(/\s+/g, ''))
    .join('');
  const buf = Buffer.from(hex, 'hex');
  return nl.parseMessages(buf).map((m) => ({ type: m.type, flags: m.flags, payload: m.data }));
}

function attrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  nl.parseAttributes(buf, (a) => out.set(a.type, a.data));
  return out;
}

/** Flattens a message into header + attribute tree (type → hex), for comparison. */
function ours(m: { payload: Uint8Array[] | Buffer }): Buffer {
  return Array.isArray(m.payload) ? Buffer.concat(m.payload) : m.payload;
}

describe.skipIf(!isRoot)('kernel encoders and objects', () => {
  const nss = new Namespaces();
  let ns: string;
  beforeAll(() => {
    ns = nss.add(`frk-${uniqueTag()}`);
  });
  afterAll(() => nss.cleanup());

  it('geneve link message carries the attributes iproute2 sends', () => {
    const [ip] = capture(ns, ['ip', 'link', 'add', 'frg-300', 'type', 'geneve', 'id', '300', 'remote', '198.18.0.2', 'dstport', '6081']);
    const me = createGeneveMsg({ name: 'frg-300', vni: 300, remote: '198.18.0.2', port: 6081, mtu: 0 });
    expect(ip.type).toBe(me.type);
    expect(ip.flags & 0xf00).toBe(me.flags);
    const a = attrs(ip.payload.subarray(16));
    const b = attrs(ours(me).subarray(16));
    expect(b.get(3)).toEqual(a.get(3)); // IFLA_IFNAME
    const ia = attrs(a.get(18)!); // IFLA_LINKINFO
    const ib = attrs(b.get(18)!);
    expect(ib.get(1)!.toString('latin1').replace(/\0+$/, '')).toBe(ia.get(1)!.toString('latin1').replace(/\0+$/, '')); // kind
    const da = attrs(ia.get(2)!);
    const db = attrs(ib.get(2)!);
    for (const [t, v] of db) expect(v, `geneve attr ${t}`).toEqual(da.get(t));
    // what iproute2 adds beyond ours are zero defaults (ttl, tos, label)
    for (const [t, v] of da)
      if (!db.has(t))
        expect(
          v.every((x) => x === 0),
          `iproute2-only attr ${t}`,
        ).toBe(true);
    expect([...db.keys()].sort()).toEqual([1, 2, 5]); // id, remote, port
  });

  it('ESP SA message matches iproute2 byte for byte (struct and AEAD attribute)', () => {
    const key = '11'.repeat(20);
    const [ip] = capture(ns, [
      'ip',
      'xfrm',
      'state',
      'add',
      'src',
      '198.18.0.1',
      'dst',
      '198.18.0.2',
      'proto',
      'esp',
      'spi',
      '0x101',
      'reqid',
      String(FREIGHT_REQID),
      'mode',
      'transport',
      'aead',
      'rfc4106(gcm(aes))',
      `0x${key}`,
      '128',
      'sel',
      'src',
      '198.18.0.1',
      'dst',
      '198.18.0.2',
      'proto',
      'udp',
      'dport',
      '4789',
    ]);
    const me = newSaMsg({ src: '198.18.0.1', dst: '198.18.0.2', spi: 0x101, key, reqid: FREIGHT_REQID, dport: 4789 });
    expect(ip.type).toBe(me.type);
    const mine = ours(me);
    expect(mine.subarray(0, 224).toString('hex')).toBe(ip.payload.subarray(0, 224).toString('hex'));
    const a = attrs(ip.payload.subarray(224));
    const b = attrs(mine.subarray(224));
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect(b.get(18)!.toString('hex')).toBe(a.get(18)!.toString('hex')); // XFRMA_ALG_AEAD
  });

  it('xfrm policies are installed, dumped and deleted for real (inside the namespace)', () => {
    // the netlink socket must live in the test namespace: run the gateway in a child there
    const mod = new URL('../../node-agent/kernel/xfrm.js', import.meta.url).pathname.replace(/\.js$/, '.ts');
    const gwMod = new URL('../../node-agent/kernel/netlink.js', import.meta.url).pathname.replace(/\.js$/, '.ts');
    const code = `
      const x = await import(${JSON.stringify(mod)});
      const { NetlinkGateway } = await import(${JSON.stringify(gwMod)});
      const gw = NetlinkGateway.open('xfrm');
      const out = { dir: 'out', src: '198.18.0.1', dst: '198.18.0.2', dport: 4789, reqid: x.FREIGHT_REQID };
      const inn = { dir: 'in', src: '198.18.0.2', dst: '198.18.0.1', dport: 4789, reqid: x.FREIGHT_REQID };
      const r = {};
      r.add = (await gw.batch([x.newPolicyMsg(out), x.newPolicyMsg(inn)])).map((e) => e?.message ?? null);
      r.dump = (await x.dumpPolicies(gw)).map((p) => p.dir + ' ' + p.src + '->' + p.dst + ':' + p.dport + ' ' + p.reqid).sort();
      r.again = (await gw.batch([x.newPolicyMsg(out)])).map((e) => e?.message ?? null);
      r.shown = (await import('node:child_process')).execFileSync('ip', ['xfrm', 'policy'], { encoding: 'utf8' });
      r.del = (await gw.batch([x.delPolicyMsg(out), x.delPolicyMsg(inn)])).map((e) => e?.message ?? null);
      r.after = (await x.dumpPolicies(gw)).length;
      gw.close();
      console.log(JSON.stringify(r));`;
    const res = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8',
    });
    expect(res.status, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout.trim().split('\n').pop()!) as {
      add: unknown[];
      dump: string[];
      again: unknown[];
      shown: string;
      del: unknown[];
      after: number;
    };
    expect(r.add).toEqual([null, null]);
    expect(r.dump).toEqual([`in 198.18.0.2->198.18.0.1:4789 ${FREIGHT_REQID}`, `out 198.18.0.1->198.18.0.2:4789 ${FREIGHT_REQID}`]);
    expect(r.shown).toMatch(/src 198\.18\.0\.1\/32 dst 198\.18\.0\.2\/32 proto udp dport 4789\s+dir out priority 100/);
    expect(r.shown).toMatch(/tmpl src 198\.18\.0\.1 dst 198\.18\.0\.2\s+proto esp reqid 1718747137 mode transport/);
    expect(r.again).toEqual(['add xfrm policy out udp 198.18.0.1->198.18.0.2:4789: EEXIST']);
    expect(r.del).toEqual([null, null]);
    expect(r.after).toBe(0);
  });
});
