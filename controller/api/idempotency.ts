import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import { ApiError } from '../errors.js';
import { answerKey, claimKey, purgeExpiredKeys, readKey, releaseKey } from '../store/idempotency.js';

/**
 * `Idempotency-Key` on POST routes (docs/api.md): the first request with a key runs, its answer is
 * kept for `ttlSeconds`; a retry with the same key and the same request gets that answer again,
 * with another request 422 idempotency_key_reused. A retry that arrives while the first still runs
 * waits for its answer (at most `waitMs`, then 409 idempotency_key_in_progress).
 */
export interface IdempotencyOptions {
  ttlSeconds: number;
  /** A claim without an answer this old belongs to a process that died: the same request may take it. */
  staleSeconds: number;
  waitMs: number;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}
export const IDEMPOTENCY_DEFAULTS: IdempotencyOptions = {
  ttlSeconds: 24 * 3600,
  staleSeconds: 120,
  waitMs: 10_000,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => Date.now(),
};

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Printable ASCII, at least 16 characters: the key also derives the answer's encryption key. */
const KEY_FORMAT = /^[\x21-\x7e]{16,255}$/;

export interface Answer {
  status: number;
  body: unknown;
}
export type Begin = { kind: 'run'; finish(a: Answer): Promise<void>; release(): Promise<void> } | { kind: 'replay'; answer: Answer };

/** The header's value, validated; undefined when absent. */
export function idempotencyKeyOf(headers: Record<string, string | string[] | undefined>, op: string): string | undefined {
  const v = headers[IDEMPOTENCY_HEADER];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !KEY_FORMAT.test(v)) {
    throw new ApiError('invalid', `${op}: Idempotency-Key must be 16 to 255 printable ASCII characters (a UUID, say)`, 'Idempotency-Key');
  }
  return v;
}

/** Same method, path and JSON body (keys in any order) → same hash. */
export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJson(body)}`)
    .digest('hex');
}

function canonicalJson(v: unknown): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const keyHash = (key: string) => createHash('sha256').update(`freight-idempotency\0${key}`).digest('hex');
const answerKeyOf = (key: string, actor: string) => Buffer.from(hkdfSync('sha256', key, actor, 'freight idempotency answer v1', 32));

/** AES-256-GCM under a key only the client's Idempotency-Key gives: iv(12) ‖ tag(16) ‖ ciphertext. */
export function sealAnswer(key: string, actor: string, body: unknown): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', answerKeyOf(key, actor), iv);
  const data = Buffer.concat([c.update(JSON.stringify(body ?? null), 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), data]);
}

export function openAnswer(key: string, actor: string, sealed: Buffer): unknown {
  const d = createDecipheriv('aes-256-gcm', answerKeyOf(key, actor), sealed.subarray(0, 12));
  d.setAuthTag(sealed.subarray(12, 28));
  return JSON.parse(Buffer.concat([d.update(sealed.subarray(28)), d.final()]).toString('utf8'));
}

export interface Idempotency {
  begin(actor: string, key: string, reqHash: string, op: string): Promise<Begin>;
}

/** Runs on the owner's connection (freight_api has no right on idempotency_keys). */
export function createIdempotency(db: Db, opts: Partial<IdempotencyOptions> = {}): Idempotency {
  const o = { ...IDEMPOTENCY_DEFAULTS, ...opts };
  let lastPurge = 0;
  const purge = () => {
    if (o.now() - lastPurge < 60_000) return;
    lastPurge = o.now();
    void purgeExpiredKeys(db).catch(() => {});
  };
  return {
    async begin(actor, key, reqHash, op) {
      purge();
      const kh = keyHash(key);
      const deadline = o.now() + o.waitMs;
      for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
        if (await claimKey(db, actor, kh, reqHash, o.ttlSeconds, o.staleSeconds)) {
          return {
            kind: 'run',
            finish: (a) => answerKey(db, actor, kh, a.status, sealAnswer(key, actor, a.body)),
            release: () => releaseKey(db, actor, kh),
          };
        }
        const row = await readKey(db, actor, kh);
        if (row && row.requestHash !== reqHash) {
          throw new ApiError(
            'idempotency_key_reused',
            `${op}: this Idempotency-Key was used for another request; use a fresh key per request`,
            'Idempotency-Key',
          );
        }
        if (row?.status != null && row.answer)
          return { kind: 'replay', answer: { status: row.status, body: openAnswer(key, actor, row.answer) } };
        if (o.now() >= deadline)
          throw new ApiError(
            'idempotency_key_in_progress',
            `${op}: a request with this Idempotency-Key is still running; retry later`,
            'Idempotency-Key',
          );
        await o.sleep(delay);
      }
    },
  };
}
