/**
 * Where the agent connects and whom it trusts: a join string (URL, token, CA pin), or
 * `--controller`/`--token` with `--ca FILE` or `--ca-fingerprint`. Plaintext (http://) needs
 * `--insecure`; an https:// controller is always verified, and nothing falls back to plaintext.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeJoin, normalizeFingerprint } from '../protocol/join.js';
import { fetchPinnedCa, fingerprintOfPem, TrustError, type Trust } from '../protocol/tls-trust.js';

export interface TargetFlags {
  join?: string;
  controller?: string;
  token?: string;
  ca?: string;
  caFingerprint?: string;
  insecure?: boolean;
}

export interface Target {
  /** the first of `controllers` */
  controller: string;
  /** every controller URL the agent may use (replicas), tried in turn: `--controller A,B` */
  controllers: string[];
  token: string;
  trust: Trust;
}

export class TargetError extends Error {
  constructor(
    readonly code: 'usage' | 'plaintext_refused',
    message: string,
  ) {
    super(message);
  }
}

/** True for http:// and ws://, false for https:// and wss://; anything else is a usage error. */
function plaintextUrl(controller: string): boolean {
  let u: URL;
  try {
    u = new URL(controller);
  } catch {
    throw new TargetError('usage', `controller ${controller}: not a URL (expected https://HOST:PORT)`);
  }
  if (u.protocol === 'http:' || u.protocol === 'ws:') return true;
  if (u.protocol !== 'https:' && u.protocol !== 'wss:')
    throw new TargetError('usage', `controller ${controller}: expected an https:// URL`);
  return false;
}

/** Pure apart from reading `--ca FILE`. */
export function resolveTarget(f: TargetFlags, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): Target {
  const join = f.join ? decodeJoin(f.join) : undefined;
  if (join && (f.controller || f.token))
    throw new TargetError('usage', '--join carries the controller URL and the token: give it alone, or --controller with --token');
  const token = join?.token ?? f.token;
  const controllers = join
    ? [join.url]
    : [
        ...new Set(
          (f.controller ?? '')
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        ),
      ];
  if (controllers.length === 0 || !token)
    throw new TargetError('usage', 'give --join STRING (freightctl token create --node NAME), or --controller URL and --token TOKEN');
  const plaintext = controllers.map((c) => plaintextUrl(c));
  const controller = controllers[0];
  const at = { controller, controllers, token };
  if (plaintext.every(Boolean)) {
    if (!f.insecure)
      throw new TargetError(
        'plaintext_refused',
        `controller ${controller} is plaintext: the stream would carry the node token in clear. ` +
          'Use the https:// URL of the join string, or pass --insecure (tests only)',
      );
    return { ...at, trust: { kind: 'insecure' } };
  }
  // one trust for all replicas: a list mixing https:// and http:// would downgrade on rotation
  if (plaintext.some(Boolean))
    throw new TargetError('usage', `--controller ${f.controller}: every URL https://, or every URL http:// with --insecure`);
  const pin = f.caFingerprint ? normalizeFingerprint(f.caFingerprint) : join?.ca;
  if (pin) return { ...at, trust: { kind: 'pin', fingerprint: pin } };
  if (f.ca) return { ...at, trust: { kind: 'ca', pem: readFile(f.ca) } };
  return { ...at, trust: { kind: 'system' } };
}

/** Where the CA a pin resolved to is kept, so a restart with the controller away need not wait for it. */
export const PINNED_CA_FILE = 'controller-ca.pem';

function cachedCa(stateDir: string | undefined, fingerprint: string): string | undefined {
  if (!stateDir) return undefined;
  try {
    const pem = readFileSync(path.join(stateDir, PINNED_CA_FILE), 'utf8');
    return fingerprintOfPem(pem) === fingerprint ? pem : undefined; // another pin: resolve again
  } catch {
    return undefined;
  }
}

/**
 * The pinned CA's PEM: from `stateDir` when a previous run resolved this pin, else from the
 * controller's handshake (then kept there). Waits with backoff while the controller is
 * unreachable; throws on a mismatch.
 */
export async function resolvePin(
  t: Target,
  onWait: (err: Error, delayMs: number) => void,
  stateDir?: string,
  sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<string | undefined> {
  if (t.trust.kind !== 'pin') return undefined;
  const cached = cachedCa(stateDir, t.trust.fingerprint);
  if (cached) return cached;
  for (let attempt = 0; ; attempt++) {
    try {
      // the replicas in turn: one that is down does not hold the start
      const pem = await fetchPinnedCa(t.controllers[attempt % t.controllers.length], t.trust.fingerprint);
      if (stateDir) {
        await mkdir(stateDir, { recursive: true });
        await writeFile(path.join(stateDir, PINNED_CA_FILE), pem);
      }
      return pem;
    } catch (err) {
      if (!(err instanceof TrustError) || err.code !== 'tls_unreachable') throw err;
      const delay = Math.min(250 * 2 ** attempt, 10_000);
      onWait(err, delay);
      await sleep(delay);
    }
  }
}
