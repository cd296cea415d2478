/**
 * The agent's nft tables on this kernel, in namespaces the test makes: what the planner
 * writes reads back as the same structure (so audits plan nothing), element updates keep
 * the counters, and the ipsec guard really drops plaintext VXLAN of guarded VNIs (this
 * kernel has no ESP, so every guarded packet is plaintext) while other VNIs pass.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NftCommand, NftFamily } from '../../node-agent/kernel/nft.js';
import { ipsecGuardTable, spoofGuardTable, type GuardPort } from '../../node-agent/kernel/nft-rules.js';
import { parseTable, planTable, replaceCommands } from '../../node-agent/dataplane/nft-table.js';
import { isRoot, Namespaces, sh, SKIP_REASON, uniqueTag } from '../support/netns.js';

if (!isRoot) console.warn(`nft guard tests skipped: ${SKIP_REASON}`);

function nftIn(ns: string, cmds: NftCommand[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'frt-nft-'));
  try {
    writeFileSync(join(dir, 'r.json'), JSON.stringify({ nftables: cmds }));
    sh('nft', ['-j', '-f', join(dir, 'r.json')], { ns });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function listIn(ns: string, family: NftFamily): NftCommand[] {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', family, 'freight'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout) as { nftables: NftCommand[] }).nftables.filter((o) => !('metainfo' in o));
}

const port = (i: number, infra = false): GuardPort => ({
  ifname: `frh-0000000${i}0`,
  mac: `02:00:00:00:00:0${i}`,
  ip: `10.0.0.${i}`,
  dhcpServer: infra,
});

describe.skipIf(!isRoot)('nft tables on this kernel', () => {
  const nss = new Namespaces();
  let a: string;
  let b: string;

  beforeAll(() => {
    const tag = uniqueTag();
    a = nss.add(`frt-a-${tag}`);
    b = nss.add(`frt-b-${tag}`);
    sh('ip', ['link', 'add', 'ul', 'netns', a, 'type', 'veth', 'peer', 'name', 'ul', 'netns', b]);
    for (const [ns, ip] of [
      [a, '198.18.9.1'],
      [b, '198.18.9.2'],
    ] as const) {
      sh('ip', ['addr', 'add', `${ip}/24`, 'dev', 'ul'], { ns });
      sh('ip', ['link', 'set', 'ul', 'up'], { ns });
      // two VXLAN segments between the nodes: vni 100 is an ipsec network's, 101 a plain one's
      for (const [vni, net] of [
        [100, '10.100.0'],
        [101, '10.101.0'],
      ] as const) {
        const dev = `frx-${vni}`;
        const me = ip.endsWith('.1') ? 1 : 2;
        sh(
          'ip',
          [
            'link',
            'add',
            dev,
            'type',
            'vxlan',
            'id',
            String(vni),
            'local',
            ip,
            'remote',
            me === 1 ? '198.18.9.2' : '198.18.9.1',
            'dstport',
            '4789',
          ],
          { ns },
        );
        sh('ip', ['addr', 'add', `${net}.${me}/24`, 'dev', dev], { ns });
        sh('ip', ['link', 'set', dev, 'up'], { ns });
      }
    }
  });
  afterAll(() => nss.cleanup());

  it('the anti-spoofing table reads back as written: an audit plans nothing', () => {
    const want = spoofGuardTable([port(1), port(2, true)]);
    nftIn(a, replaceCommands(want));
    const got = parseTable('bridge', listIn(a, 'bridge'));
    expect(got?.sets.find((s) => s.name === 'port_mac')?.elems).toEqual([
      `${port(1).ifname} . 02:00:00:00:00:01`,
      `${port(2).ifname} . 02:00:00:00:00:02`,
    ]);
    expect(planTable('bridge', want, got)).toBeUndefined();
  });

  it('element updates apply atomically and leave the table equal to the desired one', () => {
    const want = spoofGuardTable([port(2, true), port(3)]);
    const op = planTable('bridge', want, parseTable('bridge', listIn(a, 'bridge')))!;
    expect(op.mode).toBe('elements');
    nftIn(a, op.commands);
    expect(planTable('bridge', want, parseTable('bridge', listIn(a, 'bridge')))).toBeUndefined();
  });

  it('a rule deleted by hand is seen and the replacement restores it', () => {
    const want = spoofGuardTable([port(2, true), port(3)]);
    const handle = (
      listIn(a, 'bridge').find((o) => 'rule' in o && (o.rule as { comment?: string }).comment === 'fr1 dhcp-server')!.rule as {
        handle: number;
      }
    ).handle;
    sh('nft', ['delete', 'rule', 'bridge', 'freight', 'guard', 'handle', String(handle)], { ns: a });
    const op = planTable('bridge', want, parseTable('bridge', listIn(a, 'bridge')))!;
    expect([op.mode, op.reason]).toEqual(['replace', 'rules drifted']);
    nftIn(a, op.commands);
    expect(planTable('bridge', want, parseTable('bridge', listIn(a, 'bridge')))).toBeUndefined();
  });

  it('the ipsec guard drops plaintext VXLAN of guarded VNIs both ways, counts it, and lets other VNIs pass', () => {
    const ping = (ns: string, ip: string) => spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', ip]).status;
    expect(ping(a, '10.100.0.2')).toBe(0); // before the guard: plaintext passes
    // receiver only: a's plaintext leaves, b's input drops it
    nftIn(b, replaceCommands(ipsecGuardTable(['198.18.9.1'], [100])));
    expect(ping(a, '10.100.0.2')).not.toBe(0);
    expect(ping(a, '10.101.0.2')).toBe(0);
    const counters = (ns: string) => parseTable('inet', listIn(ns, 'inet'))!.counterValues!;
    expect(counters(b).ipsec_plain_in.packets).toBeGreaterThan(0);
    // sender too: a's output drops it before it leaves
    nftIn(a, replaceCommands(ipsecGuardTable(['198.18.9.2'], [100])));
    const inBefore = counters(b).ipsec_plain_in.packets;
    expect(ping(a, '10.100.0.2')).not.toBe(0);
    expect(counters(a).ipsec_plain_out.packets).toBeGreaterThan(0);
    expect(counters(b).ipsec_plain_in.packets).toBe(inBefore);
    expect(ping(a, '10.101.0.2')).toBe(0);
    expect(planTable('inet', ipsecGuardTable(['198.18.9.2'], [100]), parseTable('inet', listIn(a, 'inet')))).toBeUndefined();
  });
});

if (!isRoot) describe('nft tables', () => it.skip(SKIP_REASON, () => {}));
