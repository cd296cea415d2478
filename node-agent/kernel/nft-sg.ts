/**
 * Security groups as nft data (docs/security.md, docs/dataplane.md "Security groups"): chains,
 * sets and rules of the `inet freight` table, beside the ipsec guard. Pure.
 *
 * Bridged IPv4 passes the inet forward hook (br_netfilter, `bridge-nf-call-iptables`), with
 * conntrack: the kernel has no bridge-family conntrack (nf_conntrack_bridge), so the `inet` table
 * is where filtering can be stateful. There `iifname`/`oifname` are the bridge, so a container's
 * port is `bridge . address` (the address is its own: the bridge table's anti-spoofing drops
 * anything else first), which also keeps tenants that reuse a CIDR apart.
 *
 * The rule count grows with rules, not members: one nft rule per group rule in the group's
 * chain, one jump per group, a fixed head. Members live in sets: `sg_local` (guarded local
 * ports), `m_<group>` (a group's local members: which chains a packet jumps to), `r_<group>`
 * (a remote group's members, one element per address and bridge it can arrive on). A membership
 * change is therefore an element change, which the planner applies without touching the rules.
 * Egress is checked at priority 0, ingress at 10: an accept ends one base chain only, so a
 * packet between two local containers passes both.
 *
 * Conntrack zones: bridged traffic of every network shares the node's conntrack table, and
 * tenants may reuse a CIDR, so one tenant's packet with the tuple of another tenant's flow would
 * match that flow's entry and pass as `established` past its own network's rules (and could
 * disturb the other's TCP state). `sg_zone` (prerouting, priority raw, before conntrack) puts
 * each bridge's packets in a zone of their own; both directions of a bridged flow arrive on the
 * same bridge, so they meet in one zone.
 */
import type { ViewSecurityRule } from '../../protocol/view.js';
import type { NftChainDef, NftRule, NftSetDef } from './nft.js';
import { codeOrder } from '../../lib/order.js';

/** Bumped whenever a rule's expression changes: the comment is the rule's identity. */
const V = 'sg1';

export interface SgPort {
  bridge: string;
  ip: string;
  /** its container's groups (sorted ids) */
  groups: string[];
}
export interface SgSpec {
  /** local container ports under policy */
  ports: SgPort[];
  /** `bridge . ip` of the infra instances (DHCP and DNS are always allowed to and from them) */
  infra: string[];
  /** `bridge . ip . proto . port` of published container ports: admitted from anywhere */
  published: string[];
  /** the groups of local ports, with their rules */
  groups: Array<{ id: string; rules: ViewSecurityRule[] }>;
  /** remote group id → `bridge . ip` of its members, for every remote group the rules name */
  remote: Map<string, string[]>;
  /** the conntrack zone of each local bridge (bridgeZones in dataplane/desired-sg.ts) */
  zones: Array<{ bridge: string; zone: number }>;
}

type Expr = Record<string, unknown>;
const meta = (key: string): Expr => ({ meta: { key } });
const pl = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const cmp = (left: Expr, op: '==' | '!=' | 'in', right: unknown): Expr => ({ match: { op, left, right } });
const cat = (...e: Expr[]): Expr => ({ concat: e });
const COUNT: Expr = { counter: null };
const ACCEPT: Expr = { accept: null };
const rule = (chain: string, name: string, expr: Expr[]): NftRule => ({ chain, comment: `${V} ${name}`, expr });

/** nft names from uuids: dashes out (set and chain names are identifiers). */
const key = (id: string) => id.replace(/-/g, '');
export const memberSet = (group: string) => `m_${key(group)}`;
export const remoteSet = (group: string) => `r_${key(group)}`;
const chainOf = (dir: 'ingress' | 'egress', group: string) => `${dir === 'ingress' ? 'sgi' : 'sge'}_${key(group)}`;
/** Rule comments carry the rule id: `sg show --stats` reads the counters back by it. */
export const ruleComment = (id: string) => `${V} rule ${id}`;
export const RULE_COMMENT_RE = /^sg1 rule ([0-9a-f-]{36})$/;
export const DROP_SETS = { ingress: 'sg_drop_in', egress: 'sg_drop_out' } as const;

const ifPort = (dir: 'in' | 'out') => cat(meta(dir === 'out' ? 'iifname' : 'oifname'), pl('ip', dir === 'out' ? 'saddr' : 'daddr'));

/** tcp or udp when the rule has ports (the API allows ports with those only). */
const portedProto = (r: ViewSecurityRule) => (r.portMin !== undefined && (r.proto === 'tcp' || r.proto === 'udp') ? r.proto : undefined);

/** The rule's port ranges: its set when it has several, else portMin–portMax, else none. */
const ruleRanges = (r: ViewSecurityRule): Array<[number, number]> =>
  r.ports && r.ports.length > 1 ? r.ports : r.portMin !== undefined ? [[r.portMin, r.portMax ?? r.portMin]] : [];

/** One group rule: the peer (remote CIDR, remote group, any), protocol, ports; counted. */
function buildRuleExpr(r: ViewSecurityRule): Expr[] {
  const peer = r.direction === 'ingress' ? 'saddr' : 'daddr';
  const e: Expr[] = [];
  if (r.remoteGroup)
    e.push(cmp(cat(meta(r.direction === 'ingress' ? 'iifname' : 'oifname'), pl('ip', peer)), '==', `@${remoteSet(r.remoteGroup)}`));
  else if (r.remoteCidr && !r.remoteCidr.endsWith('/0')) {
    const [addr, len] = r.remoteCidr.split('/');
    e.push(cmp(pl('ip', peer), '==', { prefix: { addr, len: Number(len) } }));
  }
  // `tcp dport 80` (nft adds `meta l4proto tcp`: the same bytecode as the two matches, which nft
  // parses 5% slower); the protocol alone as `meta l4proto`
  const ported = portedProto(r);
  if (r.proto !== 'any' && !ported) e.push(cmp(meta('l4proto'), '==', r.proto));
  const port = ([a, b]: [number, number]) => (a === b ? a : { range: [a, b] });
  const dport = pl(ported ?? 'th', 'dport');
  const ranges = ruleRanges(r);
  // several ranges: one anonymous set, so the rule (and its counter) stays one
  if (ranges.length === 1) e.push(cmp(dport, '==', port(ranges[0])));
  else if (ranges.length > 1) e.push(cmp(dport, '==', { set: ranges.map(port) }));
  return [...e, COUNT, ACCEPT];
}

// ids are uuids: hex and dashes are plain tokens (RULE_COMMENT_RE reads them back the same way)
const UUID = /^[0-9a-f-]{36}$/;
const CIDR = /^\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}$/;
const PORT = (p: number) => Number.isSafeInteger(p) && p >= 1 && p <= 65535;

/**
 * The rule in nft syntax straight from the view rule, without building its JSON: what
 * tableText renders of ruleExpr(r) (sg.test.ts compares them for every kind of rule), for a
 * table replacement's 10,000 rules in a fraction of the time. Values are checked at least as
 * strictly as nft-text.ts checks them; undefined for anything else, which then takes that path.
 */
function buildRuleText(r: ViewSecurityRule): string | undefined {
  if (!UUID.test(r.id)) return undefined;
  const ingress = r.direction === 'ingress';
  const peer = ingress ? 'saddr' : 'daddr';
  let out = '';
  if (r.remoteGroup) {
    if (!UUID.test(r.remoteGroup)) return undefined;
    out = `meta ${ingress ? 'iifname' : 'oifname'} . ip ${peer} @${remoteSet(r.remoteGroup)} `;
  } else if (r.remoteCidr && !r.remoteCidr.endsWith('/0')) {
    if (!CIDR.test(r.remoteCidr)) return undefined;
    out = `ip ${peer} ${r.remoteCidr} `;
  }
  if (r.proto !== 'tcp' && r.proto !== 'udp' && r.proto !== 'icmp' && r.proto !== 'any') return undefined;
  const ported = portedProto(r);
  if (r.proto !== 'any' && !ported) out += `meta l4proto ${r.proto} `;
  const dport = `${ported ?? 'th'} dport`;
  const one = ([a, b]: [number, number]) => (!PORT(a) || !PORT(b) ? undefined : a === b ? `${a}` : `${a}-${b}`);
  const parts = ruleRanges(r).map(one);
  if (parts.some((x) => x === undefined)) return undefined;
  if (parts.length === 1) out += `${dport} ${parts[0]} `;
  else if (parts.length > 1) out += `${dport} { ${parts.join(', ')} } `;
  return `${out}counter accept comment "${ruleComment(r.id)}"`;
}

/**
 * A group rule as the table holds it, once per view rule object (and chain): the agent's view
 * keeps an unchanged group's rule objects between plans, so a table replacement rebuilds only
 * what changed. Its text at once, its JSON expression only when something reads it (a JSON
 * batch, the line syntax); neither is mutated once built. A class, not an object literal with a
 * getter: V8 creates those on a slow path, 20 ms per 10,000 cold.
 */
class GroupRule implements NftRule {
  readonly #rule: ViewSecurityRule;
  #expr?: Expr[];
  readonly comment: string;
  readonly text: string | undefined;
  constructor(
    readonly chain: string,
    rule: ViewSecurityRule,
  ) {
    this.#rule = rule;
    this.comment = ruleComment(rule.id);
    this.text = buildRuleText(rule);
  }
  get expr(): Expr[] {
    return (this.#expr ??= buildRuleExpr(this.#rule));
  }
}
const rulesOf = new WeakMap<ViewSecurityRule, GroupRule>();

function groupRule(chain: string, r: ViewSecurityRule): NftRule {
  const had = rulesOf.get(r);
  if (had?.chain === chain) return had;
  const made = new GroupRule(chain, r);
  rulesOf.set(r, made);
  return made;
}

function head(chain: string, dir: 'in' | 'out'): NftRule[] {
  const p = ifPort(dir);
  const rules = [
    rule(chain, 'unguarded', [cmp(p, '!=', '@sg_local'), ACCEPT]),
    rule(chain, 'established', [cmp({ ct: { key: 'state' } }, 'in', ['established', 'related']), ACCEPT]),
    rule(chain, 'invalid', [cmp({ ct: { key: 'state' } }, 'in', ['invalid']), { drop: null }]),
  ];
  if (dir === 'out') {
    const toInfra = cmp(cat(meta('iifname'), pl('ip', 'daddr')), '==', '@sg_infra');
    rules.push(
      rule(chain, 'dhcp-dns', [toInfra, cmp(meta('l4proto'), '==', 'udp'), cmp(pl('th', 'dport'), '==', { set: [53, 67] }), ACCEPT]),
      rule(chain, 'dns-tcp', [toInfra, cmp(meta('l4proto'), '==', 'tcp'), cmp(pl('th', 'dport'), '==', 53), ACCEPT]),
      // DHCP rebinding: a leased client broadcasts its REQUEST
      rule(chain, 'dhcp-bcast', [cmp(pl('ip', 'daddr'), '==', '255.255.255.255'), cmp(pl('udp', 'dport'), '==', 67), ACCEPT]),
    );
  } else {
    const fromInfra = cmp(cat(meta('iifname'), pl('ip', 'saddr')), '==', '@sg_infra');
    rules.push(
      rule(chain, 'dhcp', [fromInfra, cmp(pl('udp', 'sport'), '==', 67), cmp(pl('udp', 'dport'), '==', 68), ACCEPT]),
      // published ports are admitted like Docker's -p: the operator published them (docs/security.md)
      rule(chain, 'published', [cmp(cat(meta('oifname'), pl('ip', 'daddr'), meta('l4proto'), pl('th', 'dport')), '==', '@sg_pub'), ACCEPT]),
    );
  }
  return rules;
}

/** One rule per local bridge (the zone is in the comment: a rule's constants are its identity). */
function zoneRules(zones: SgSpec['zones']): NftRule[] {
  return [...zones]
    .sort((a, b) => codeOrder(a.bridge, b.bridge))
    .map(({ bridge, zone }) =>
      rule('sg_zone', `zone ${bridge} ${zone}`, [
        cmp(meta('iifname'), '==', bridge),
        { mangle: { key: { ct: { key: 'zone' } }, value: zone } },
      ]),
    );
}

export interface SgTableParts {
  sets: NftSetDef[];
  chains: NftChainDef[];
  rules: NftRule[];
}

/** The security-group part of `inet freight`; undefined when no local port is under policy. */
export function securityGroupParts(spec: SgSpec): SgTableParts | undefined {
  if (spec.ports.length === 0) return undefined;
  const ports = [...spec.ports].sort((a, b) => codeOrder(a.bridge, b.bridge) || codeOrder(a.ip, b.ip));
  const elems = ports.map((p) => `${p.bridge} . ${p.ip}`);
  const groups = [...spec.groups].sort((a, b) => codeOrder(a.id, b.id));
  const portType = ['ifname', 'ipv4_addr'];
  const sets: NftSetDef[] = [
    { name: 'sg_local', type: portType, elems },
    { name: 'sg_infra', type: portType, elems: [...new Set(spec.infra)].sort() },
    { name: 'sg_pub', type: ['ifname', 'ipv4_addr', 'inet_proto', 'inet_service'], elems: [...new Set(spec.published)].sort() },
    // per-element counters: packets dropped by policy per container port (the agent's /metrics)
    { name: DROP_SETS.ingress, type: portType, elems, counter: true },
    { name: DROP_SETS.egress, type: portType, elems, counter: true },
  ];
  const chains: NftChainDef[] = [
    { name: 'sg_zone', hook: 'prerouting', prio: -300 },
    { name: 'sg_egress', hook: 'forward', prio: 0 },
    { name: 'sg_ingress', hook: 'forward', prio: 10 },
  ];
  const rules: NftRule[] = [...zoneRules(spec.zones), ...head('sg_egress', 'out'), ...head('sg_ingress', 'in')];
  const members = (g: string) => ports.filter((p) => p.groups.includes(g)).map((p) => `${p.bridge} . ${p.ip}`);
  for (const g of groups) {
    sets.push({ name: memberSet(g.id), type: portType, elems: members(g.id) });
    for (const dir of ['egress', 'ingress'] as const) {
      const chain = chainOf(dir, g.id);
      chains.push({ name: chain });
      const base = dir === 'egress' ? 'sg_egress' : 'sg_ingress';
      rules.push(
        rule(base, `jump ${key(g.id)}`, [
          cmp(ifPort(dir === 'egress' ? 'out' : 'in'), '==', `@${memberSet(g.id)}`),
          { jump: { target: chain } },
        ]),
      );
      const own = g.rules.filter((r) => r.direction === dir).sort((a, b) => codeOrder(a.id, b.id));
      for (const r of own) rules.push(groupRule(chain, r));
    }
  }
  for (const [g, addrs] of [...spec.remote].sort(([a], [b]) => codeOrder(a, b))) {
    sets.push({ name: remoteSet(g), type: portType, elems: [...new Set(addrs)].sort() });
  }
  // whatever no group accepted: dropped, counted per port
  rules.push(rule('sg_egress', 'drop', [cmp(ifPort('out'), '==', `@${DROP_SETS.egress}`), { drop: null }]));
  rules.push(rule('sg_ingress', 'drop', [cmp(ifPort('in'), '==', `@${DROP_SETS.ingress}`), { drop: null }]));
  return { sets, chains, rules };
}
