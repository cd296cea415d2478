/**
 * Conntrack zones between tenants that reuse a CIDR (docs/security.md "Conntrack zones"), on
 * this kernel: two networks on one node, both 10.0.0.0/24, each with a container at .5 and .7.
 * Tenant A's .5 talks to its .7 (allowed); tenant B's .5 then sends a packet with exactly that
 * flow's tuple to B's .7, which B's group does not admit. Without zones the packet matches A's
 * conntrack entry and passes as `established`; with the planner's `sg_zone` chain it is a new
 * flow in B's zone and is dropped. Bridges, veths and the `inet freight` table in namespaces
 * the test makes; br_netfilter's call-iptables is set in the node namespace only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeView, ViewSecurityGroup } from '../../protocol/view.js';
import { desiredState } from '../../node-agent/dataplane/desired.js';
import type { NodeFacts } from '../../node-agent/dataplane/types.js';
import { replaceCommands } from '../../node-agent/dataplane/nft-table.js';
import { nftText } from '../../node-agent/kernel/nft-text.js';
import { isRoot, Namespaces, sh, SKIP_REASON, uniqueTag } from '../support/netns.js';
import { viewContainer } from '../support/view.js';
import { testCaps } from '../support/caps.js';

if (!isRoot) console.warn(`conntrack zone tests skipped: ${SKIP_REASON}`);

const facts: NodeFacts = {
  node: 'n1',
  underlayIp: '198.18.0.1',
  underlayMtu: 1500,
  capabilities: testCaps(),
};
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
// A admits UDP 6000 from anywhere; B admits nothing in; both send anything
const GA: ViewSecurityGroup = {
  id: uuid(1),
  name: 'a',
  rules: [
    { id: uuid(11), direction: 'ingress', proto: 'udp', portMin: 6000, portMax: 6010 },
    { id: uuid(12), direction: 'egress', proto: 'any' },
  ],
};
const GB: ViewSecurityGroup = { id: uuid(2), name: 'b', rules: [{ id: uuid(21), direction: 'egress', proto: 'any' }] };
const PORTS = [
  { name: 'a5', net: 'a', vni: 100, ip: '10.0.0.5', group: GA },
  { name: 'a7', net: 'a', vni: 100, ip: '10.0.0.7', group: GA },
  { name: 'b5', net: 'b', vni: 200, ip: '10.0.0.5', group: GB },
  { name: 'b7', net: 'b', vni: 200, ip: '10.0.0.7', group: GB },
];

function view(): NodeView {
  const net = (id: string, vni: number) => ({
    id,
    tenant: id,
    name: id,
    type: 'vxlan' as const,
    vni,
    cidr: '10.0.0.0/24',
    gateway: null,
    mtu: 1450,
    domain: 'd',
    flood: [],
  });
  const v: NodeView = {
    node: 'n1',
    underlayIp: '198.18.0.1',
    revision: 1,
    keys: {},
    networks: { a: net('a', 100), b: net('b', 200) },
    containers: {},
    endpoints: {},
  };
  PORTS.forEach((p, i) => {
    const id = uuid(100 + i);
    v.containers[id] = viewContainer(id, { tenant: p.net, name: p.name, securityGroups: [p.group] });
    v.endpoints[p.name] = {
      id: p.name,
      network: p.net,
      kind: 'container',
      owner: id,
      name: p.name,
      mac: `02:00:00:00:0${i}:01`,
      ip: p.ip,
      node: 'n1',
      vtep: '198.18.0.1',
      ifindex: 0,
      groups: [p.group.id],
    };
  });
  return v;
}

describe.skipIf(!isRoot)('conntrack zones between tenants reusing a CIDR', () => {
  const nss = new Namespaces();
  const procs: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'frt-ctz-'));
  const tag = uniqueTag();
  let node: string;
  const ns: Record<string, string> = {};

  beforeAll(() => {
    node = nss.add(`frt-ctz-${tag}`);
    sh('sh', ['-c', 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables'], { ns: node });
    for (const vni of [100, 200]) {
      sh('ip', ['link', 'add', `frb-${vni}`, 'type', 'bridge'], { ns: node });
      sh('ip', ['link', 'set', `frb-${vni}`, 'up'], { ns: node });
    }
    PORTS.forEach((p, i) => {
      ns[p.name] = nss.add(`frt-ctz-${tag}-${p.name}`);
      sh('ip', ['link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[p.name]], { ns: node });
      sh('ip', ['link', 'set', `v${i}`, 'master', `frb-${p.vni}`, 'up'], { ns: node });
      sh('ip', ['addr', 'add', `${p.ip}/24`, 'dev', 'eth0'], { ns: ns[p.name] });
      sh('ip', ['link', 'set', 'eth0', 'up'], { ns: ns[p.name] });
    });
  });
  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
    nss.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Loads the planner's table (optionally without its zone rules, to show what they prevent). */
  function load(zones: boolean): void {
    const t = desiredState(view(), facts).nft.get('inet')!;
    const table = zones ? t : { ...t, rules: t.rules.filter((r) => r.chain !== 'sg_zone') };
    sh('nft', ['-f', '-'], { ns: node, input: nftText(replaceCommands(table))! });
  }

  /** A's flow 5 → 7 on `port` (answered), then B's 5 sends the same tuple; what B's 7 received. */
  async function attack(port: number): Promise<{ reply: string; got: string }> {
    const out = join(dir, `b7-${port}`);
    procs.push(
      spawn('ip', ['netns', 'exec', ns.a7, 'socat', `UDP-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo pong'], { stdio: 'ignore' }),
      spawn('ip', ['netns', 'exec', ns.b7, 'socat', '-u', `UDP-RECV:${port}`, `OPEN:${out},creat,append`], { stdio: 'ignore' }),
    );
    // both listeners bound before anything is sent (a loaded machine starts socat slowly)
    const bound = (n: string) => sh('ss', ['-Huln', `sport = :${port}`], { ns: n }).includes(`:${port}`);
    for (let i = 0; !(bound(ns.a7) && bound(ns.b7)); i++) {
      if (i > 100) throw new Error(`UDP listeners on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const reply = sh('sh', ['-c', `echo ping | timeout 2 socat - UDP:10.0.0.7:${port},sourceport=5000`], { ns: ns.a5, allowFail: true });
    sh('sh', ['-c', `echo attack | timeout 1 socat -u - UDP:10.0.0.7:${port},sourceport=5000`], { ns: ns.b5, allowFail: true });
    await new Promise((r) => setTimeout(r, 500));
    return { reply: reply.trim(), got: existsSync(out) ? readFileSync(out, 'utf8').trim() : '' };
  }

  it("without zones B's packet rides A's conntrack entry past B's group (the hole the zones close)", async () => {
    load(false);
    expect(await attack(6001)).toEqual({ reply: 'pong', got: 'attack' });
  });

  it("with the planner's sg_zone chain it is a new flow in B's zone and B's group drops it", async () => {
    load(true);
    const zones = sh('nft', ['list', 'chain', 'inet', 'freight', 'sg_zone'], { ns: node });
    expect(zones).toMatch(/iifname "frb-100" ct zone set 100/);
    expect(zones).toMatch(/iifname "frb-200" ct zone set 200/);
    // A's allowed flow still gets its reply (both directions meet in A's zone); B's copy is dropped
    expect(await attack(6002)).toEqual({ reply: 'pong', got: '' });
  });
});
