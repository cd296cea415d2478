/**
 * Guest suite: the whole ipsec key lifecycle on a real kernel with the real programs —
 * controller (key manager) on a throw-away PostgreSQL, two agents, busybox containers under
 * systemd-nspawn taking addresses by DHCP from the infra container. The SAs in each node's
 * kernel are the ones the key manager wrote (read back from ipsec_keys), the underlay carries
 * only ESP, the API never shows key material, and a rotation requested through the API under
 * a 10 packets/s ping loses nothing, in the order inbound → outbound switched → old removed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createSealer, ipsecKeyAad, parseMasterKey } from '../../controller/secrets/sealer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FREIGHT_REQID } from '../../node-agent/kernel/xfrm.js';
import { sh } from '../support/netns.js';
import { Cluster, DHCP_CMD } from '../netns/cluster.js';
import { startGuestPg, type GuestPg } from './lib/guest-pg.js';
import { capture, pingContinuous, pingWorks, xfrmStates } from './lib/probes.js';
import { firstSample, watchXfrm, type SpiSample } from './lib/xfrm-watch.js';

const SUITE = 'ipsec-lifecycle';
const report = (text: string) => process.stdout.write(`[kernel-suite] ${SUITE}: ${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (n: number) => `0x${n.toString(16)}`;

/** One row of ipsec_keys, with node names instead of ids. */
interface KeyRow {
  generation: number;
  phase: string;
  a: string;
  b: string;
  spiAb: number;
  spiBa: number;
  keyAb: string;
  keyBa: string;
}

/** `ip -s xfrm state` with what the other probes leave out: reqid and the AEAD key (-s prints `spi 0x…(decimal)`). */
function xfrmDetail(ns: string): Array<{ src: string; dst: string; spi: number; reqid: number; key: string }> {
  const out = sh('ip', ['-s', 'xfrm', 'state'], { ns });
  return out
    .split(/^(?=src )/m)
    .filter((b) => b.startsWith('src '))
    .map((b) => {
      const head = /^src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)\S* reqid (\d+)/m.exec(b);
      const key = /aead rfc4106\(gcm\(aes\)\) 0x([0-9a-f]+)/.exec(b);
      return {
        src: head?.[1] ?? '',
        dst: head?.[2] ?? '',
        spi: Number(head?.[3] ?? -1),
        reqid: Number(head?.[4] ?? -1),
        key: key?.[1] ?? '',
      };
    });
}

describe('ipsec key lifecycle: controller, agents, containers', () => {
  const tmp = `/run/freight-lifecycle-${process.pid}`;
  const savedTmp = process.env.TMPDIR;
  let pgs: GuestPg | undefined;
  let db: pg.Client | undefined;
  let c: Cluster | undefined;
  const box: Array<{ id: string; ip: string; node: number }> = [];
  /** every key the key manager made during the suite (to search API bodies for) */
  const seenKeys = new Set<string>();
  let rotateBody = '';

  const cl = () => c!;
  const ns = (node: number) => cl().h.node(node).ns;
  const ulIp = (node: number) => cl().h.node(node).underlayIp;

  async function keyRows(): Promise<KeyRow[]> {
    const r = await db!.query(
      `SELECT k.generation, k.phase, a.name AS a, b.name AS b, k.spi_ab, k.spi_ba, k.key_ab, k.key_ba,
              k.network_id::text AS network_id, k.node_a::text AS node_a, k.node_b::text AS node_b
         FROM ipsec_keys k JOIN nodes a ON a.id = k.node_a JOIN nodes b ON b.id = k.node_b ORDER BY k.generation`,
    );
    // key material is sealed at rest: open it with the controller's master key (its state directory)
    const sealer = createSealer(parseMasterKey(readFileSync(path.join(cl().controllerStateDir, 'master.key'), 'utf8'), 'master.key'));
    const open = (x: Record<string, unknown>, dir: 'ab' | 'ba') =>
      sealer.open(
        String(x[`key_${dir}`]),
        ipsecKeyAad(
          { networkId: String(x.network_id), nodeA: String(x.node_a), nodeB: String(x.node_b), generation: Number(x.generation) },
          dir,
        ),
      );
    const rows = r.rows.map((x) => ({
      generation: Number(x.generation),
      phase: String(x.phase),
      a: String(x.a),
      b: String(x.b),
      spiAb: Number(x.spi_ab),
      spiBa: Number(x.spi_ba),
      keyAb: open(x, 'ab'),
      keyBa: open(x, 'ba'),
    }));
    for (const k of rows) seenKeys.add(k.keyAb).add(k.keyBa);
    return rows;
  }

  /** node i's outbound/inbound SPIs and keys according to a key row */
  function expectedSas(k: KeyRow, node: number): { out: { spi: number; key: string }; in: { spi: number; key: string } } {
    const isA = k.a === `node${node}`;
    return isA
      ? { out: { spi: k.spiAb, key: k.keyAb }, in: { spi: k.spiBa, key: k.keyBa } }
      : { out: { spi: k.spiBa, key: k.keyBa }, in: { spi: k.spiAb, key: k.keyAb } };
  }

  async function steadyKey(generation: number): Promise<KeyRow> {
    let row: KeyRow | undefined;
    await cl().waitFor(
      async () => {
        const rows = await keyRows();
        row = rows.length === 1 && rows[0].phase === 'active' && rows[0].generation === generation ? rows[0] : undefined;
        return row !== undefined;
      },
      120_000,
      `one active key of generation ${generation}`,
    );
    return row!;
  }

  /** true when node i's kernel holds exactly the SAs of `k` (outbound + inbound), nothing else */
  function kernelHolds(k: KeyRow, node: number): boolean {
    const st = xfrmStates(ns(node));
    const e = expectedSas(k, node);
    const out = st.filter((s) => s.src === ulIp(node)).map((s) => s.spi);
    const inn = st.filter((s) => s.dst === ulIp(node)).map((s) => s.spi);
    return out.length === 1 && out[0] === e.out.spi && inn.length === 1 && inn[0] === e.in.spi;
  }

  beforeAll(async () => {
    const t0 = Date.now();
    // a tmpfs for the cluster: the agents' container overlays need an upper dir that is not
    // itself on the guest's root overlay
    mkdirSync(tmp, { recursive: true });
    process.env.TMPDIR = tmp;
    pgs = startGuestPg(`${tmp}/pg`);
    const tPg = Date.now();
    db = new pg.Client({ connectionString: pgs.url });
    await db.connect();
    // logs on the results share (they outlive the guest): /freight-out/lifecycle/*.log in the run dir
    const logDir = existsSync('/freight-out') ? '/freight-out/lifecycle' : undefined;
    if (logDir) mkdirSync(logDir, { recursive: true });
    c = await Cluster.start({ nodes: 2, databaseUrl: pgs.url, readyTimeoutMs: 120_000, logDir });
    const tCluster = Date.now();
    expect((await c.api('POST', '/v1/tenants', { name: 'acme' })).status).toBe(201);
    const net = await c.api('POST', '/v1/tenants/acme/networks', { name: 'sec', type: 'ipsec', cidr: '10.0.0.0/24' });
    expect(net.status, JSON.stringify(net.body)).toBe(201);
    for (const node of [0, 1]) {
      const r = await c.api('POST', '/v1/tenants/acme/containers', {
        name: `b${node}`,
        image: 'busybox',
        networks: ['sec'],
        node: `node${node}`,
        command: DHCP_CMD,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      box.push({ id: r.body.id, ip: r.body.endpoints[0].ip, node });
    }
    await c
      .waitFor(() => box.every((b) => cl().addressOf(b.id) === b.ip), 180_000, 'DHCP addresses of both containers')
      .catch(async (e) => {
        const st = await cl()
          .api('GET', '/v1/tenants/acme/containers')
          .catch(() => ({ body: 'unavailable' }));
        throw new Error(
          `${String(e)}; containers: ${JSON.stringify(st.body).slice(0, 1500)}; addresses: ${box.map((b) => cl().addressOf(b.id)).join(', ')}; ${containerLogs(cl(), logDir)}`,
        );
      });
    report(
      `setup: postgresql ${((tPg - t0) / 1000).toFixed(1)} s, cluster (controller + 2 agents) ${((tCluster - tPg) / 1000).toFixed(1)} s, containers with DHCP addresses ${((Date.now() - tCluster) / 1000).toFixed(1)} s`,
    );
  }, 420_000);

  afterAll(async () => {
    c?.stop();
    await db?.end().catch(() => {});
    pgs?.stop();
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    rmSync(tmp, { recursive: true, force: true });
  }, 120_000);

  it('containers on the two nodes ping each other through the ipsec network', () => {
    const lines = [
      [0, 1],
      [1, 0],
    ].map(([f, t]) => {
      const ok = pingWorks(cl().netnsOf(box[f].id), box[t].ip);
      return { ok, line: `${box[f].ip} (node${f}) -> ${box[t].ip} (node${t}): ${ok ? 'ok' : 'FAILED'}` };
    });
    report(`ping ${lines.map((l) => l.line).join('; ')}`);
    for (const l of lines) expect(l.ok, l.line).toBe(true);
  });

  it('each node holds the SAs the key manager generated (SPI, key, Freight reqid); their counters rise during a ping', async () => {
    const k = await steadyKey(1);
    for (const node of [0, 1]) {
      const e = expectedSas(k, node);
      const got = xfrmDetail(ns(node));
      expect(
        [...got].sort((x, y) => x.spi - y.spi),
        `node${node}`,
      ).toEqual(
        [
          { src: ulIp(node), dst: ulIp(1 - node), spi: e.out.spi, reqid: FREIGHT_REQID, key: e.out.key },
          { src: ulIp(1 - node), dst: ulIp(node), spi: e.in.spi, reqid: FREIGHT_REQID, key: e.in.key },
        ].sort((x, y) => x.spi - y.spi),
      );
    }
    const count = (node: number, spi: number) => xfrmStates(ns(node)).find((s) => s.spi === spi)?.packets ?? -1;
    const out0 = expectedSas(k, 0).out.spi;
    const out1 = expectedSas(k, 1).out.spi;
    const before = [count(0, out0), count(1, out0), count(1, out1), count(0, out1)];
    expect(pingWorks(cl().netnsOf(box[0].id), box[1].ip, 5)).toBe(true);
    const after = [count(0, out0), count(1, out0), count(1, out1), count(0, out1)];
    const d = after.map((v, i) => v - before[i]);
    report(
      `ESP SAs of generation 1: node0 -> node1 spi ${hex(out0)} (+${d[0]} encrypted on node0, +${d[1]} decrypted on node1), node1 -> node0 spi ${hex(out1)} (+${d[2]} encrypted, +${d[3]} decrypted); reqid ${hex(FREIGHT_REQID)} on all`,
    );
    for (const v of d) expect(v).toBeGreaterThanOrEqual(5);
  });

  it("node0's underlay carries only ESP to node1 (no UDP 4789)", async () => {
    const cap = await capture(ns(0), 'ul0', ['host', ulIp(1)]);
    expect(pingWorks(cl().netnsOf(box[0].id), box[1].ip, 5)).toBe(true);
    const lines = (await cap.stop()).split('\n').filter(Boolean);
    const protos = new Map<string, number>();
    for (const l of lines) {
      const p = /ESP\(spi=/.test(l) ? 'ESP' : /UDP|\.4789[: ]|VXLAN/.test(l) ? 'UDP (plaintext tunnel)' : 'other';
      protos.set(p, (protos.get(p) ?? 0) + 1);
    }
    report(`capture on node0's underlay (host ${ulIp(1)}): ${[...protos].map(([p, n]) => `${p} ${n}`).join(', ') || 'nothing'}`);
    expect(lines.filter((l) => /ESP\(spi=/.test(l)).length).toBeGreaterThanOrEqual(10);
    expect(
      lines.filter((l) => !/ESP\(spi=/.test(l) && !/ARP/.test(l)),
      lines.join('\n'),
    ).toEqual([]);
  });

  it('rotate-keys under a 10 packets/s ping: 0 lost, inbound before outbound, old SAs removed last', async () => {
    const g1 = await steadyKey(1);
    const from = box[0];
    const to = box[1];
    const ping = pingContinuous(cl().netnsOf(from.id), to.ip, 10);
    const watches = [0, 1].map((n) => watchXfrm(ns(n), ulIp(n)));
    await sleep(1500);
    const t0 = Date.now();
    const r = await cl().api('POST', '/v1/tenants/acme/networks/sec/rotate-keys');
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    rotateBody = JSON.stringify(r.body); // checked with the other API bodies below
    const g2 = await steadyKey(2);
    await cl().waitFor(() => kernelHolds(g2, 0) && kernelHolds(g2, 1), 60_000, 'generation 2 alone in both kernels');
    const took = Date.now() - t0;
    await sleep(1500);
    const result = await ping.stop();
    const samples = await Promise.all(watches.map((w) => w.stop()));

    report(`rotation through the API took ${(took / 1000).toFixed(1)} s (request to generation 1 gone from both kernels)`);
    report(
      `ping during rotation: ${result.sent} sent, ${result.received} received, lost ${result.lost.length}${result.lost.length ? ` (seq ${result.lost.join(',')})` : ''}`,
    );
    for (const node of [0, 1]) {
      const gaps = samples[node].filter((x) => x.out.size === 0).length;
      report(
        `node${node} SPIs observed (${describeSampling(samples[node])}): ${describeSteps(samples[node], t0)}; samples without any outbound SA: ${gaps}`,
      );
    }

    expect(g2.spiAb).not.toBe(g1.spiAb);
    expect(g2.spiBa).not.toBe(g1.spiBa);
    expect(result.sent).toBeGreaterThanOrEqual(30);
    expect(result.lost, result.output.split('\n').slice(-4).join('\n')).toEqual([]);
    for (const node of [0, 1]) {
      // old SAs gone, new ones alone, with the key manager's keys
      const got = xfrmDetail(ns(node));
      const e = expectedSas(g2, node);
      expect(got.map((s) => s.spi).sort(), `node${node}`).toEqual([e.out.spi, e.in.spi].sort());
      expect(got.find((s) => s.spi === e.out.spi)?.key).toBe(e.out.key);

      const old = expectedSas(g1, node);
      const s = samples[node];
      const newIn = firstSample(s, (x) => x.in.has(e.in.spi));
      const newOut = firstSample(s, (x) => x.out.has(e.out.spi));
      const oldInGone = firstSample(s, (x) => !x.in.has(old.in.spi));
      expect(s.length, `node${node} samples`).toBeGreaterThan(5);
      expect(s[0].out.has(old.out.spi) && s[0].in.has(old.in.spi), `node${node} starts on generation 1`).toBe(true);
      expect(newIn, `node${node}: new inbound seen`).toBeGreaterThan(0);
      expect(newOut, `node${node}: new inbound (sample ${newIn}) before new outbound (sample ${newOut})`).toBeGreaterThan(newIn);
      expect(
        oldInGone,
        `node${node}: old inbound removed (sample ${oldInGone}) after the outbound switched (sample ${newOut})`,
      ).toBeGreaterThan(newOut);
      // once switched (the new outbound is added before the old one is deleted), the old outbound never comes back
      const switched = firstSample(s, (x) => x.out.has(e.out.spi) && !x.out.has(old.out.spi));
      expect(switched, `node${node}: old outbound removed`).toBeGreaterThanOrEqual(newOut);
      expect(
        s.slice(switched).some((x) => x.out.has(old.out.spi)),
        `node${node}: old outbound back after the switch`,
      ).toBe(false);
      // make before break: a sample with no outbound SA at all is a window in which packets to the peer are dropped
      const gaps = s.filter((x) => x.out.size === 0).map((x) => x.at - t0);
      expect(gaps, `node${node}: samples (ms after the request) with no outbound SA`).toEqual([]);
      // the peer installed this node's new outbound SPI as inbound before this node sent with it
      const peerIn = firstSample(samples[1 - node], (x) => x.in.has(e.out.spi));
      expect(peerIn, `node${1 - node} saw spi ${hex(e.out.spi)} inbound`).toBeGreaterThanOrEqual(0);
      expect(samples[1 - node][peerIn].at, `node${1 - node} inbound ${hex(e.out.spi)} before node${node} sends with it`).toBeLessThan(
        s[newOut].at,
      );
    }
    // the new SAs carried the end of the ping
    expect(xfrmStates(ns(0)).find((x) => x.spi === expectedSas(g2, 0).out.spi)?.packets).toBeGreaterThan(0);
  }, 240_000);

  it('the API never returns key material (network, endpoints, containers, nodes, status, audit, rotate-keys)', async () => {
    await keyRows();
    const urls = [
      '/v1/tenants/acme/networks/sec',
      '/v1/tenants/acme/networks',
      '/v1/tenants/acme/endpoints',
      '/v1/tenants/acme/containers',
      '/v1/nodes',
      '/v1/status',
      '/v1/audit',
    ];
    const bodies = [rotateBody];
    for (const u of urls) {
      const r = await cl().api('GET', u);
      expect(r.status, u).toBe(200);
      bodies.push(JSON.stringify(r.body));
    }
    const all = bodies.join('\n').toLowerCase();
    const leaked = [...seenKeys].filter((k) => all.includes(k));
    report(
      `API: ${urls.length} GET routes + rotate-keys checked against ${seenKeys.size} keys the key manager made: ${leaked.length} found`,
    );
    expect(seenKeys.size).toBeGreaterThanOrEqual(4);
    expect(leaked).toEqual([]);
    expect(all).not.toMatch(/"(key_?(ab|ba|in|out)|spi_?(ab|ba|in|out))"/);
  });
});

/** Copies every container's output log (infra included) next to the cluster logs; returns the infra's last lines. */
function containerLogs(c: Cluster, logDir: string | undefined): string {
  let infra = '';
  for (const node of [0, 1]) {
    const dir = `${c.stateDir(node)}/containers`;
    for (const id of existsSync(dir) ? readdirSync(dir) : []) {
      const file = `${dir}/${id}/output.log`;
      if (!existsSync(file)) continue;
      const text = readFileSync(file, 'utf8');
      if (logDir) writeFileSync(`${logDir}/node${node}-${id}.log`, text);
      if (/freight-infra/.test(text)) infra += text.split('\n').slice(-6).join('\n');
    }
  }
  return `infra output: ${infra.slice(-1500) || 'none'}`;
}

/** "N samples, every ~M ms" */
function describeSampling(s: SpiSample[]): string {
  if (s.length < 2) return `${s.length} samples`;
  return `${s.length} samples, every ~${Math.round((s[s.length - 1].at - s[0].at) / (s.length - 1))} ms`;
}

/** The distinct SPI sets a node went through, with times relative to the rotate-keys request. */
function describeSteps(s: SpiSample[], t0: number): string {
  const fmt = (x: SpiSample) => `out{${[...x.out].map(hex).join(',')}} in{${[...x.in].map(hex).join(',')}}`;
  const steps: string[] = [];
  let last = '';
  for (const x of s) {
    const f = fmt(x);
    if (f !== last) steps.push(`${x.at - t0 >= 0 ? '+' : ''}${x.at - t0} ms ${f}`);
    last = f;
  }
  return steps.join(' -> ');
}
