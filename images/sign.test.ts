import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { signRpms } from './sign.js';

const home = mkdtempSync(path.join(tmpdir(), 'fr-gpg-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('signing key home', () => {
  it('refuses a GnuPG home others can enter (its secret key has no passphrase)', async () => {
    chmodSync(home, 0o755);
    await expect(signRpms(['x.rpm'], { keyId: 'k', gnupgHome: home })).rejects.toMatchObject({
      code: 'sign_failed',
      message: expect.stringMatching(/open to others \(mode 755\): chmod 700/),
    });
  });
});
