import { ImageError } from './errors.js';
import { stat } from 'node:fs/promises';
import { runOk } from './exec.js';

export interface SigningKey {
  /** A key id, fingerprint or user id gpg can find in gnupgHome. */
  keyId: string;
  /** The GnuPG home holding the secret key (no passphrase: signing runs unattended). */
  gnupgHome: string;
}

/** Signs RPM files in place with `rpmsign --addsign` (a V4 header signature over header and payload digests). */
export async function signRpms(rpms: string[], key: SigningKey): Promise<void> {
  await assertPrivateHome(key.gnupgHome);
  await runOk(`sign ${rpms.join(' ')}`, 'sign-failed', 'rpmsign', [
    '--addsign',
    // Debian's rpm names gpg2, which Debian no longer ships as a separate binary
    '--define', '__gpg /usr/bin/gpg',
    '--define', `_gpg_name ${key.keyId}`,
    '--define', `_gpg_path ${key.gnupgHome}`,
    ...rpms,
  ], { env: { ...process.env, GNUPGHOME: key.gnupgHome } });
}

/** The ASCII-armoured public key a repository publishes and tenants register. */
export async function exportPublicKey(key: SigningKey): Promise<string> {
  const r = await runOk(`export key ${key.keyId}`, 'sign-failed', 'gpg', ['--batch', '--armor', '--export', key.keyId], {
    env: { ...process.env, GNUPGHOME: key.gnupgHome },
  });
  if (!r.stdout.includes('BEGIN PGP PUBLIC KEY BLOCK')) throw new ImageError('sign-failed', `export key ${key.keyId}: no such key in ${key.gnupgHome}`);
  return r.stdout;
}

/** The GnuPG home holds an unprotected secret key (signing runs unattended): only its owner may enter it. */
export async function assertPrivateHome(home: string): Promise<void> {
  const s = await stat(home).catch(() => undefined);
  if (!s?.isDirectory()) throw new ImageError('sign-failed', `sign: GnuPG home ${home} is not a directory`);
  if (s.mode & 0o077) throw new ImageError('sign-failed', `sign: GnuPG home ${home} is open to others (mode ${(s.mode & 0o777).toString(8)}): chmod 700 ${home}`);
}
