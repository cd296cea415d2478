/**
 * The node's tenant routers: reads what exists, changes only the difference (a restarted agent
 * plans nothing for routers already right, so routed flows never stop), audits on a timer.
 * Failures become network errors of the router's networks, never a crash.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import type { Logger } from 'pino';
import { Serial } from '../../lib/serial.js';
import type { NodeView } from '../../protocol/view.js';
import type { NetworkError } from '../dataplane/types.js';
import { netnsExists } from '../kernel/netns.js';
import { isRouterNetnsOf } from '../names.js';
import { desiredRouters, infraRoutes, type RouterSpec } from './desired.js';
import { intToIp4, mask4, parseCidr4 } from '../../protocol/addr.js';
import {
  bridgeBatch,
  garp,
  ip,
  ipBatch,
  ipJson,
  netnsNames,
  nftText,
  sysctl,
  type IpAddr,
  type IpLink,
  type IpNeigh,
  type IpRule,
  RouterError,
} from './kernel.js';
import { dropTableText, hostTableText, routerTableText, TRANSFER_MARK } from './nft-text.js';

/** The routing table of a router netns for replies that go back over the transfer link. */
const TRANSFER_TABLE = 100;

export interface RoutersOptions {
  underlayIp: string;
  /** `routers.json` there lists the router netns this agent made: it deletes no other (another agent's on a shared test machine). */
  stateDir: string;
  /** Addresses and CIDRs tenant traffic never reaches (controller, database, node underlay). */
  deny: string[];
  log: Logger;
}

export class Routers {
  /** nft text last applied per netns ('' = the node): rewritten only when it changes. */
  private readonly nft = new Map<string, string>();
  private readonly queue = new Serial();
  private readonly owned: Set<string>;
  /** what tenant traffic never reaches, for the routers' external ports (set per apply, before the routers) */
  private deny: string[] = [];

  constructor(private readonly o: RoutersOptions) {
    this.owned = new Set(readOwned(this.file));
  }

  private get file(): string {
    return path.join(this.o.stateDir, 'routers.json');
  }

  /** Desired spec of each router as last ensured: a view apply that leaves it unchanged costs no process. */
  private readonly done = new Map<string, string>();
  /** One-time steps already done: sysctls of a router netns, an infra container's default route. */
  private readonly once = new Set<string>();

  /**
   * Applies the view's routers (one at a time: view applies and audits share the queue). A view
   * apply touches only routers whose desired state changed; an audit (`full`) reads back and
   * repairs every one (a port deleted by hand, an infra netns that started since).
   */
  apply(view: NodeView, full = false): Promise<NetworkError[]> {
    return this.queue.run(() => this.applyNow(view, full));
  }

  private async applyNow(view: NodeView, full: boolean): Promise<NetworkError[]> {
    const errors: NetworkError[] = [];
    const fail = (spec: RouterSpec | null, err: unknown) => {
      const message = `router ${spec ? `${spec.tenant}/${spec.name}` : '(node nat)'}: ${(err as Error).message}`;
      this.o.log.warn({ err, router: spec?.name }, 'router apply failed');
      for (const p of spec?.ports ?? [{ network: '' }]) errors.push({ network: p.network, message });
    };
    const want = desiredRouters(view);
    this.deny = [...new Set([this.o.underlayIp, ...this.o.deny, ...vteps(view)])];
    const mine = new Set([...want.values()].map((r) => r.ns));
    const before = [...this.owned].sort().join();
    for (const ns of netnsNames()) {
      if (!isRouterNetnsOf(ns, this.o.underlayIp) || !this.owned.has(ns) || mine.has(ns)) continue;
      await ip(null, ['netns', 'del', ns]).then(
        () => {
          this.owned.delete(ns);
          this.once.delete(`sysctl ${ns}`);
        },
        (e: unknown) => fail(null, e),
      );
      this.nft.delete(ns);
    }
    for (const ns of mine) this.owned.add(ns);
    // recorded before the netns exist: a crash in between leaves a name, never an orphan namespace
    if ([...this.owned].sort().join() !== before) await writeFileAtomic(this.file, JSON.stringify([...this.owned].sort()));
    for (const k of this.done.keys()) if (!want.has(k)) this.done.delete(k);
    for (const spec of want.values()) {
      const fp = JSON.stringify(spec);
      if (!full && this.done.get(spec.id) === fp) continue;
      this.done.delete(spec.id);
      await this.ensure(spec).then(
        () => this.done.set(spec.id, fp),
        (e: unknown) => fail(spec, e),
      );
    }
    const deny = [...new Set([...this.o.deny, ...vteps(view)])];
    await this.ensureHostNft(hostTableText([...want.values()], this.o.underlayIp, deny)).catch((e: unknown) => fail(null, e));
    for (const r of infraRoutes(view)) {
      const key = `infra ${r.ns} ${r.via}`;
      if (!netnsExists(r.ns) || (!full && this.once.has(key))) continue; // not started yet: the next audit adds it
      await ip(r.ns, ['route', 'replace', 'default', 'via', r.via, 'dev', 'eth0']).then(
        () => this.once.add(key),
        (e: unknown) => fail(null, e),
      );
    }
    return errors;
  }

  private async ensure(r: RouterSpec): Promise<void> {
    const fresh = !netnsExists(r.ns) || !this.once.has(`sysctl ${r.ns}`);
    if (!netnsExists(r.ns)) {
      await ip(null, ['netns', 'add', r.ns]);
      this.nft.delete(r.ns);
    }
    // forwarding on; no IPv6 (the guard drops it anyway); no reverse-path drops of asymmetric distributed routes
    if (fresh) await this.sysctls(r.ns);
    const inner = new Map((await ipJson<IpLink>(r.ns, ['link', 'show'])).map((l) => [l.ifname, l]));
    const host = new Map((await ipJson<IpLink>(null, ['link', 'show'])).map((l) => [l.ifname, l]));
    const addrs = new Map((await ipJson<IpAddr>(r.ns, ['-4', 'addr', 'show'])).map((a) => [a.ifname, a]));
    const has = (dev: string, cidr: string) => (addrs.get(dev)?.addr_info ?? []).some((a) => `${a.local}/${a.prefixlen}` === cidr);
    const nsLines: string[] = [];
    const hostLines: string[] = [];
    if (inner.get('lo')?.operstate !== 'UNKNOWN') nsLines.push('link set lo up');
    const wanted = new Set<string>(['lo']);
    for (const p of r.ports) {
      wanted.add(p.inner);
      if (!host.has(p.host) || !inner.has(p.inner)) {
        if (host.has(p.host)) await ip(null, ['link', 'del', p.host]);
        await ip(null, ['link', 'add', p.host, 'mtu', String(p.mtu), 'type', 'veth', 'peer', 'name', p.inner, 'netns', r.ns]);
        host.set(p.host, { ifname: p.host });
        inner.set(p.inner, { ifname: p.inner });
      }
      const i = inner.get(p.inner)!;
      const h = host.get(p.host)!;
      if (i.address !== p.mac || i.mtu !== p.mtu || !i.flags?.includes('UP'))
        nsLines.push(`link set ${p.inner} address ${p.mac} mtu ${p.mtu} up`);
      if (!has(p.inner, p.address)) {
        for (const a of addrs.get(p.inner)?.addr_info ?? []) nsLines.push(`addr del ${a.local}/${a.prefixlen} dev ${p.inner}`);
        nsLines.push(`addr add ${p.address} dev ${p.inner}`);
      }
      if (h.master !== p.bridge || h.mtu !== p.mtu || !h.flags?.includes('UP')) {
        hostLines.push(`link set ${p.host} master ${p.bridge} mtu ${p.mtu} up`);
        // the gateway MAC stays on this port: frames to it never flood into the tunnels
        hostLines.push(`link set dev ${p.host} type bridge_slave learning off neigh_suppress on`);
      }
    }
    if (r.transfer) {
      const t = r.transfer;
      wanted.add(t.inner);
      if (!host.has(t.host) || !inner.has(t.inner)) {
        if (host.has(t.host)) await ip(null, ['link', 'del', t.host]);
        await ip(null, ['link', 'add', t.host, 'type', 'veth', 'peer', 'name', t.inner, 'netns', r.ns]);
        nsLines.push(`addr replace ${t.innerIp}/31 dev ${t.inner}`, `link set ${t.inner} up`);
        hostLines.push(`addr replace ${t.hostIp}/31 dev ${t.host}`, `link set ${t.host} up`);
      }
    }
    const added = r.externalPort ? await this.externalLinks(r, inner, host, nsLines, hostLines, wanted) : [];
    for (const name of inner.keys()) if (!wanted.has(name)) nsLines.push(`link del ${name}`);
    await ipBatch(null, hostLines);
    await ipBatch(r.ns, nsLines);
    // fdb entries go when a port leaves its bridge: re-assert them (replace is a no-op when equal)
    await bridgeBatch(r.ports.map((p) => `fdb replace ${p.mac} dev ${p.host} master static`));
    if (r.transfer && !r.externalPort) await ipBatch(r.ns, [`route replace default via ${r.transfer.hostIp} dev ${r.transfer.inner}`]);
    if (r.transfer) writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    await this.ensureNeigh(r);
    await this.ensureNft(r.ns, routerTableText(r, this.deny));
    if (r.externalPort) await this.externalRoutes(r);
    // after the addresses exist: the segment learns where each new one lives (a floating IP that moved here)
    for (const a of added)
      await garp(r.ns, r.externalPort!.inner, a).catch((err: unknown) =>
        this.o.log.warn({ err, router: r.name, ip: a }, 'gratuitous ARP failed'),
      );
  }

  /**
   * The external port (external.ts): the veth into the physical network's bridge, this node's
   * address and the floating IPs on the inside end. Returns the addresses it adds (for the GARP).
   */
  private async externalLinks(
    r: RouterSpec,
    inner: Map<string, IpLink>,
    host: Map<string, IpLink>,
    nsLines: string[],
    hostLines: string[],
    wanted: Set<string>,
  ): Promise<string[]> {
    const x = r.externalPort!;
    wanted.add(x.inner);
    // the node does not map the physical network (the dataplane reports it): no port, routes blackholed
    if (!host.has(x.bridge)) return [];
    if (!host.has(x.host) || !inner.has(x.inner)) {
      if (host.has(x.host)) await ip(null, ['link', 'del', x.host]);
      await ip(null, ['link', 'add', x.host, 'mtu', String(x.mtu), 'type', 'veth', 'peer', 'name', x.inner, 'netns', r.ns]);
      host.set(x.host, { ifname: x.host });
      inner.set(x.inner, { ifname: x.inner });
    }
    const h = host.get(x.host)!;
    const i = inner.get(x.inner)!;
    if (h.master !== x.bridge || h.mtu !== x.mtu || !h.flags?.includes('UP'))
      hostLines.push(`link set ${x.host} master ${x.bridge} mtu ${x.mtu} up`);
    if (i.mtu !== x.mtu || !i.flags?.includes('UP')) nsLines.push(`link set ${x.inner} mtu ${x.mtu} up`);
    const want = new Set([...(x.address ? [x.address] : []), ...x.floating.map((f) => `${f.ip}/32`)]);
    const have = (await ipJson<IpAddr>(r.ns, ['-4', 'addr', 'show', 'dev', x.inner]).catch(() => [] as IpAddr[])).flatMap((a) =>
      (a.addr_info ?? []).map((i4) => `${i4.local}/${i4.prefixlen}`),
    );
    for (const a of have) if (!want.has(a)) nsLines.push(`addr del ${a} dev ${x.inner}`);
    const fresh = [...want].filter((a) => !have.includes(a));
    for (const a of fresh) nsLines.push(`addr add ${a} dev ${x.inner}`);
    return fresh.map((a) => a.split('/')[0]);
  }

  /**
   * Routes of a router with an external port: the external network on its port, the default
   * through its gateway (no gateway: blackhole, nothing leaves another way); replies of
   * connections that came over the transfer link (published ports, marked in nft) go back there.
   */
  private async externalRoutes(r: RouterSpec): Promise<void> {
    const x = r.externalPort!;
    if (!(await ipJson<IpLink>(null, ['link', 'show', 'dev', x.bridge]).catch(() => []))?.length) {
      await ipBatch(r.ns, ['route replace blackhole default']);
      throw new RouterError('external port', `no bridge ${x.bridge}: this node does not map physical network ${x.physicalNetwork}`);
    }
    const { addr, prefix } = parseCidr4(x.cidr);
    const lines = [`route replace ${intToIp4((addr & mask4(prefix)) >>> 0)}/${prefix} dev ${x.inner}`];
    lines.push(x.gateway ? `route replace default via ${x.gateway} dev ${x.inner} onlink` : 'route replace blackhole default');
    if (r.transfer) {
      lines.push(`route replace default via ${r.transfer.hostIp} dev ${r.transfer.inner} table ${TRANSFER_TABLE}`);
      const rules = await ipJson<IpRule>(r.ns, ['rule', 'show']);
      if (!rules.some((u) => u.fwmark === `0x${TRANSFER_MARK.toString(16)}` && u.table === String(TRANSFER_TABLE)))
        lines.push(`rule add fwmark ${TRANSFER_MARK} lookup ${TRANSFER_TABLE} priority 100`);
    }
    await ipBatch(r.ns, lines);
  }

  private async sysctls(ns: string): Promise<void> {
    await sysctl(ns, {
      'net.ipv4.ip_forward': '1',
      'net.ipv6.conf.all.disable_ipv6': '1',
      'net.ipv6.conf.default.disable_ipv6': '1',
      'net.ipv4.conf.all.rp_filter': '0',
      'net.ipv4.conf.default.rp_filter': '0',
    });
    this.once.add(`sysctl ${ns}`);
  }

  /** Permanent neighbours for every endpoint of the router's networks; others removed. */
  private async ensureNeigh(r: RouterSpec): Promise<void> {
    const have = await ipJson<IpNeigh>(r.ns, ['neigh', 'show', 'nud', 'permanent']);
    const key = (dev: string, ip4: string) => `${dev}|${ip4}`;
    const want = new Map(r.neigh.map((n) => [key(n.dev, n.ip), n]));
    const lines: string[] = [];
    for (const n of have) {
      const w = want.get(key(n.dev, n.dst));
      if (!w) lines.push(`neigh del ${n.dst} dev ${n.dev}`);
      else if (w.mac === n.lladdr) want.delete(key(n.dev, n.dst));
    }
    for (const n of want.values()) lines.push(`neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`);
    await ipBatch(r.ns, lines);
  }

  private async ensureNft(ns: string, text: string): Promise<void> {
    if (this.nft.get(ns) === text) return;
    await nftText(ns, text);
    this.nft.set(ns, text);
  }

  private async ensureHostNft(text: string | null): Promise<void> {
    if (text === null && !this.nft.has('')) {
      // nothing routed here: remove a table an earlier run may have left (once)
      await nftText(null, dropTableText);
      this.nft.set('', dropTableText);
      return;
    }
    await this.ensureNft('', text ?? dropTableText);
  }
}

function readOwned(file: string): string[] {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Underlay addresses of the other nodes the view names: tenant traffic never reaches them directly. */
function vteps(view: NodeView): string[] {
  const out = new Set<string>();
  for (const e of Object.values(view.endpoints)) out.add(e.vtep);
  for (const n of Object.values(view.networks)) for (const f of n.flood) out.add(f);
  return [...out];
}
