/**
 * The ipsec key planner: a pure function of (key rows, which nodes host which ipsec network,
 * node acks, rotation requests, clock) → the next actions. Per network and node pair:
 *
 *   none ─create g1 (inbound)─▶ [g1 inbound] ─both acked─▶ [g1 active]
 *   [g active] ─due or requested─▶ create g+1 (inbound) ─both acked─▶ [g retiring, g+1 active]
 *   ─both acked─▶ delete g ─▶ [g+1 active]
 *
 * "Both acked" = node_a and node_b have applied_revision ≥ the row's revision (the change-log
 * revision of its last phase change), so each step is installed on both sides before the next.
 */

export type Phase = 'inbound' | 'active' | 'retiring';

export interface KeyState {
  id: string;
  networkId: string;
  nodeA: string;
  nodeB: string;
  generation: number;
  phase: Phase;
  /** Change-log revision of the row's last phase change (0: unknown, counts as acked). */
  revision: number;
  /** Milliseconds since the epoch, database clock. */
  createdAt: number;
}

export interface PlanInput {
  /** Database clock, ms. */
  now: number;
  rotateAfterMs: number;
  /** ipsec network → its own rotation period (params.rotateHours), overriding rotateAfterMs */
  rotateAfter?: Map<string, number>;
  /** ipsec network → nodes hosting at least one of its endpoints. */
  hosts: Map<string, Set<string>>;
  keys: KeyState[];
  /** node → applied revision. */
  applied: Map<string, number>;
  /** ipsec network → time of its pending rotation request (ms). */
  requests: Map<string, number>;
}

export interface Pair {
  networkId: string;
  nodeA: string;
  nodeB: string;
}

export type KeyAction =
  | ({ kind: 'create'; generation: number } & Pair)
  | ({ kind: 'activate'; id: string; retire: string[] } & Pair)
  | { kind: 'delete'; ids: string[]; why: 'retired' | 'pair gone' | 'stray' }
  | { kind: 'request done'; networkId: string; requestedAt: number };

export interface Plan {
  actions: KeyAction[];
  /** Some step waits for acks: look again soon. */
  waiting: boolean;
  /** When the next periodic rotation falls due (ms), if any key is steady. */
  nextDue: number | null;
}

export const pairKey = (p: Pair) => `${p.networkId}/${p.nodeA}/${p.nodeB}`;

/** Every node pair (a < b, as the table orders uuids) of every ipsec network with two or more hosts. */
export function wantedPairs(hosts: Map<string, Set<string>>): Pair[] {
  const out: Pair[] = [];
  for (const [networkId, nodes] of hosts) {
    const sorted = [...nodes].sort();
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) out.push({ networkId, nodeA: sorted[i], nodeB: sorted[j] });
    }
  }
  return out;
}

export function plan(input: PlanInput): Plan {
  const byPair = new Map<string, KeyState[]>();
  for (const k of input.keys) {
    const key = pairKey(k);
    byPair.set(key, [...(byPair.get(key) ?? []), k]);
  }
  const out: Plan = { actions: [], waiting: false, nextDue: null };
  const wanted = wantedPairs(input.hosts);
  const wantedKeys = new Set(wanted.map(pairKey));
  for (const [key, rows] of byPair) {
    if (!wantedKeys.has(key)) out.actions.push({ kind: 'delete', ids: rows.map((r) => r.id), why: 'pair gone' });
  }
  for (const pair of wanted) {
    const rows = (byPair.get(pairKey(pair)) ?? []).sort((a, b) => a.generation - b.generation);
    planPair(input, pair, rows, out);
  }
  planRequests(input, wanted, byPair, out);
  return out;
}

const acked = (input: PlanInput, k: KeyState) =>
  (input.applied.get(k.nodeA) ?? 0) >= k.revision && (input.applied.get(k.nodeB) ?? 0) >= k.revision;

/** One pair's next step; `rows` sorted by generation. */
function planPair(input: PlanInput, pair: Pair, rows: KeyState[], out: Plan): void {
  const newest = rows[rows.length - 1];
  if (!newest) {
    out.actions.push({ kind: 'create', ...pair, generation: 1 });
    out.waiting = true;
    return;
  }
  const older = rows.slice(0, -1);
  if (newest.phase === 'retiring') {
    // no generation to send with: start over
    out.actions.push({ kind: 'delete', ids: rows.map((r) => r.id), why: 'stray' });
    return;
  }
  if (newest.phase === 'inbound') {
    const stray = older.filter((r) => r.phase !== 'active');
    if (stray.length > 0) out.actions.push({ kind: 'delete', ids: stray.map((r) => r.id), why: 'stray' });
    if (acked(input, newest)) {
      out.actions.push({ kind: 'activate', ...pair, id: newest.id, retire: older.filter((r) => r.phase === 'active').map((r) => r.id) });
    }
    out.waiting = true;
    return;
  }
  // newest is active
  const stray = older.filter((r) => r.phase !== 'retiring');
  if (stray.length > 0) out.actions.push({ kind: 'delete', ids: stray.map((r) => r.id), why: 'stray' });
  const retiring = older.filter((r) => r.phase === 'retiring');
  if (retiring.length > 0) {
    if (acked(input, newest)) out.actions.push({ kind: 'delete', ids: retiring.map((r) => r.id), why: 'retired' });
    out.waiting = true;
    return;
  }
  const dueAt = newest.createdAt + (input.rotateAfter?.get(pair.networkId) ?? input.rotateAfterMs);
  const requested = input.requests.get(pair.networkId);
  if (dueAt <= input.now || (requested !== undefined && requested > newest.createdAt)) {
    out.actions.push({ kind: 'create', ...pair, generation: newest.generation + 1 });
    out.waiting = true;
  } else if (out.nextDue === null || dueAt < out.nextDue) {
    out.nextDue = dueAt;
  }
}

/** A request is done once every pair of its network has a steady key generated after it. */
function planRequests(input: PlanInput, wanted: Pair[], byPair: Map<string, KeyState[]>, out: Plan): void {
  for (const [networkId, requestedAt] of input.requests) {
    const pairs = wanted.filter((p) => p.networkId === networkId);
    const done = pairs.every((p) => {
      const rows = byPair.get(pairKey(p)) ?? [];
      return rows.length === 1 && rows[0].phase === 'active' && rows[0].createdAt >= requestedAt;
    });
    if (done) out.actions.push({ kind: 'request done', networkId, requestedAt });
  }
}
