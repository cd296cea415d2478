/**
 * Secrets at rest (ipsec key material in the database) under AES-256-GCM with a master key
 * that is never in the database: FREIGHT_MASTER_KEY (base64 or hex of 32 bytes), else the
 * file FREIGHT_KEY_FILE, else `<state dir>/master.key` (0600, created at first start).
 * Sealed text: `fr1:` + base64(12-byte IV | ciphertext | 16-byte tag). The associated data
 * names the row and direction, so a value moved to another row does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { readSecret, writeSecret } from './files.js';

export interface Sealer {
  seal(plain: string, aad: string): string;
  /** Throws SealError on a wrong key, a changed value or plaintext. */
  open(sealed: string, aad: string): string;
  /** Short public id of the key (first 8 hex digits of its SHA-256), to compare replicas. */
  readonly keyId: string;
}

export class SealError extends Error {
  constructor(
    readonly code: 'master_key_invalid' | 'master_key_mismatch' | 'not_sealed',
    message: string,
  ) {
    super(message);
  }
}

export const SEALED_PREFIX = 'fr1:';

export function createSealer(key: Buffer): Sealer {
  if (key.length !== 32) throw new SealError('master_key_invalid', `master key: expected 32 bytes, got ${key.length}`);
  return {
    keyId: createHash('sha256').update(key).digest('hex').slice(0, 8),
    seal(plain, aad) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(aad));
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return SEALED_PREFIX + Buffer.concat([iv, body, c.getAuthTag()]).toString('base64');
    },
    open(sealed, aad) {
      if (!sealed.startsWith(SEALED_PREFIX)) throw new SealError('not_sealed', 'a stored secret is not sealed');
      const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64');
      if (raw.length < 29) throw new SealError('master_key_mismatch', 'a sealed secret is truncated');
      try {
        const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12)).setAAD(Buffer.from(aad));
        d.setAuthTag(raw.subarray(raw.length - 16));
        return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
      } catch {
        throw new SealError('master_key_mismatch', `a sealed secret does not open with master key ${this.keyId}`);
      }
    },
  };
}

/** 32 bytes from base64 (44 chars) or hex (64). */
export function parseMasterKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(t) && key.toString('base64') !== t))
    throw new SealError('master_key_invalid', `${where}: expected 32 bytes as base64 or 64 hex digits`);
  return key;
}

export interface MasterKeySource {
  stateDir: string;
  env?: NodeJS.ProcessEnv;
}

/** Loads (or at first start creates) the master key. `source` says where it came from, never the key. */
export async function loadMasterKey(o: MasterKeySource): Promise<{ key: Buffer; source: string; created: boolean }> {
  const env = o.env ?? process.env;
  if (env.FREIGHT_MASTER_KEY)
    return { key: parseMasterKey(env.FREIGHT_MASTER_KEY, 'FREIGHT_MASTER_KEY'), source: 'FREIGHT_MASTER_KEY', created: false };
  const file = env.FREIGHT_KEY_FILE || path.join(o.stateDir, 'master.key');
  const text = await readSecret(file, 'master key file');
  if (text !== undefined) return { key: parseMasterKey(text, file), source: file, created: false };
  const key = randomBytes(32);
  await writeSecret(file, `${key.toString('base64')}\n`);
  return { key, source: file, created: true };
}

/** Associated data of one ipsec key value: its row and direction. */
export const ipsecKeyAad = (r: { networkId: string; nodeA: string; nodeB: string; generation: number }, dir: 'ab' | 'ba') =>
  `ipsec_keys:${r.networkId}:${r.nodeA}:${r.nodeB}:${r.generation}:${dir}`;
