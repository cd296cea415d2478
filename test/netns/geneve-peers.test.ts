/**
 * Multi-peer geneve on this kernel (which lacks geneve): the per-peer device message
 * matches what iproute2 sends, and the `isolated` port flag that keeps peer ports from
 * relaying to each other is set and read back for real on a bridge port (a veth stands in
 * for the geneve device). The qemu suite runs the geneve devices themselves.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nl from 'netlink';
import { createGeneveMsg } from '../../node-agent/kernel/geneve.js';
import { geneveName } from '../../node-agent/names.js';
import { isRoot, Namespaces, sh, SKIP_REASON, uniqueTag } from '../support/netns.js';

if (!isRoot) console.warn(`geneve peer tests skipped: ${SKIP_REASON}`);

function capture(ns: string, args: string[]): Array<{ type: number; flags: number; payload: Buffer }> {
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
  return nl.parseMessages(Buffer.from(hex, 'hex')).map((m) => ({ type: m.type, flags: m.flags, payload: m.data }));
}

function attrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  nl.parseAttributes(buf, (a) => out.set(a.type, a.data));
  return out;
}

describe.skipIf(!isRoot)('multi-peer geneve pieces on this kernel', () => {
  const nss = new Namespaces();
  let ns: string;
  beforeAll(() => {
    ns = nss.add(`frk-${uniqueTag()}`);
  });
  afterAll(() => nss.cleanup());

  it('the per-peer device message carries what `ip link add frg12c-20002 type geneve id 300 remote … dstport 6081` sends', () => {
    const name = geneveName(300, '198.18.0.2');
    const [ip] = capture(ns, ['ip', 'link', 'add', name, 'type', 'geneve', 'id', '300', 'remote', '198.18.0.2', 'dstport', '6081']);
    const me = createGeneveMsg({ name, vni: 300, remote: '198.18.0.2', port: 6081, mtu: 0 });
    const mine = Buffer.concat(me.payload as Uint8Array[]);
    const a = attrs(ip.payload.subarray(16));
    const b = attrs(mine.subarray(16));
    expect(b.get(3)!.toString('latin1').replace(/\0+$/, '')).toBe(name); // IFLA_IFNAME, ≤ 15 chars
    expect(b.get(3)).toEqual(a.get(3));
    const da = attrs(attrs(a.get(18)!).get(2)!);
    const db = attrs(attrs(b.get(18)!).get(2)!);
    for (const [t, v] of db) expect(v, `geneve attr ${t}`).toEqual(da.get(t));
    expect([...db.keys()].sort()).toEqual([1, 2, 5]); // id, remote, port
  });

  it('the isolated port flag is set over netlink and read back (bridge -d link, our parser)', () => {
    sh('ip', ['link', 'add', 'frb-9', 'type', 'bridge'], { ns });
    sh('ip', ['link', 'add', 'frg9-00001', 'type', 'veth', 'peer', 'name', 'frt-peer'], { ns });
    sh('ip', ['link', 'set', 'frg9-00001', 'master', 'frb-9'], { ns });
    const link = new URL('../../node-agent/kernel/link.js', import.meta.url).pathname.replace(/\.js$/, '.ts');
    const gwMod = new URL('../../node-agent/kernel/netlink.js', import.meta.url).pathname.replace(/\.js$/, '.ts');
    const code = `
      const l = await import(${JSON.stringify(link)});
      const { NetlinkGateway } = await import(${JSON.stringify(gwMod)});
      const gw = NetlinkGateway.open('route');
      const idx = await l.ifindexOf(gw, 'frg9-00001');
      await gw.request(l.portFlagsMsg(idx, 'frg9-00001', { learning: false, neighSuppress: true, isolated: true }));
      const port = (await l.dumpLinks(gw)).find((x) => x.name === 'frg9-00001').port;
      gw.close();
      console.log(JSON.stringify(port));`;
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ learning: false, neighSuppress: true, isolated: true });
    expect(sh('bridge', ['-d', 'link', 'show', 'dev', 'frg9-00001'], { ns })).toMatch(/learning off.*neigh_suppress on.*isolated on/s);
  });
});

if (!isRoot) describe('geneve peers', () => it.skip(SKIP_REASON, () => {}));
