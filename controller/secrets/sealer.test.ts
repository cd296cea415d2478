import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSealer, loadMasterKey } from './sealer.js';

describe('sealing secrets at rest', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'freight-seal-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('AES-256-GCM: opens with the same key and row, not with another key, row or a changed byte', () => {
    const s = createSealer(randomBytes(32));
    const sealed = s.seal('00112233445566778899aabbccddeeff00112233', 'row1:ab');
    expect(sealed).toMatch(/^fr1:/);
    expect(sealed).not.toContain('00112233');
    expect(s.open(sealed, 'row1:ab')).toBe('00112233445566778899aabbccddeeff00112233');
    expect(() => s.open(sealed, 'row1:ba')).toThrow(/does not open/);
    expect(() => createSealer(randomBytes(32)).open(sealed, 'row1:ab')).toThrow(/does not open/);
    const raw = Buffer.from(sealed.slice(4), 'base64');
    raw[14] ^= 1;
    expect(() => s.open(`fr1:${raw.toString('base64')}`, 'row1:ab')).toThrow(/does not open/);
    expect(() => s.open('00112233', 'row1:ab')).toThrow(/not sealed/);
  });

  it('master key: FREIGHT_MASTER_KEY, else FREIGHT_KEY_FILE, else STATE_DIR/master.key created 0600; loose files refused', async () => {
    const hex = randomBytes(32).toString('hex');
    expect((await loadMasterKey({ stateDir: dir, env: { FREIGHT_MASTER_KEY: hex } })).key.toString('hex')).toBe(hex);
    await expect(loadMasterKey({ stateDir: dir, env: { FREIGHT_MASTER_KEY: 'short' } })).rejects.toThrow(/32 bytes/);
    const made = await loadMasterKey({ stateDir: dir, env: {} });
    expect(made.created).toBe(true);
    expect(statSync(path.join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    expect((await loadMasterKey({ stateDir: dir, env: {} })).key.equals(made.key)).toBe(true);
    const file = path.join(dir, 'other.key');
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o644 });
    chmodSync(file, 0o644);
    await expect(loadMasterKey({ stateDir: dir, env: { FREIGHT_KEY_FILE: file } })).rejects.toThrow(/accessible by group or others/);
  });
});
