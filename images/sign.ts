import { ImageError } from './errors.js';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { runOk } from './exec.js';

export interface SigningKey {
  /** A key id, fingerprint or user id gpg can find in gnupgHome. */
  keyId: string;
  /** The GnuPG home holding the secret key (no passphrase: signing runs unattended). */
  gnupgHome: string;
}

/** Signs RPM files in place with `rpmsign --addsign` (a V4 header signature over header and payload digests). */
export async function signRpms(rpms: string[], key: SigningKey): Promise<void> {
  assertKeyArgs(key);
  await assertPrivateHome(key.gnupgHome);
  const files = rpms.map((r) => path.resolve(r)); // absolute: a file named `--delsign` is never an option
  await runOk(
    `sign ${rpms.join(' ')}`,
    'sign_failed',
    'rpmsign',
    [
      '--addsign',
      // Debian's rpm names gpg2, which Debian no longer ships as a separate binary
      '--define',
      '__gpg /usr/bin/gpg',
      '--define',
      `_gpg_name ${key.keyId}`,
      '--define',
      `_gpg_path ${key.gnupgHome}`,
      '--',
      ...files,
    ],
    { env: { ...process.env, GNUPGHOME: key.gnupgHome } },
  );
}

/** The ASCII-armoured public key a repository publishes and tenants register. */
export async function exportPublicKey(key: SigningKey): Promise<string> {
  assertKeyArgs(key);
  const r = await runOk(`export key ${key.keyId}`, 'sign_failed', 'gpg', ['--batch', '--armor', '--export', '--', key.keyId], {
    env: { ...process.env, GNUPGHOME: key.gnupgHome },
  });
  if (!r.stdout.includes('BEGIN PGP PUBLIC KEY BLOCK'))
    throw new ImageError('sign_failed', `export key ${key.keyId}: no such key in ${key.gnupgHome}`);
  return r.stdout;
}

/** The GnuPG home holds an unprotected secret key (signing runs unattended): only its owner may enter it. */
export async function assertPrivateHome(home: string): Promise<void> {
  const s = await stat(home).catch(() => undefined);
  if (!s?.isDirectory()) throw new ImageError('sign_failed', `sign: GnuPG home ${home} is not a directory`);
  if (s.mode & 0o077)
    throw new ImageError(
      'sign_failed',
      `sign: GnuPG home ${home} is open to others (mode ${(s.mode & 0o777).toString(8)}): chmod 700 ${home}`,
    );
}

/**
 * The key id and GnuPG home go into `--define` values, which rpm macro-expands (`%(…)` runs a
 * shell): no `%`, no newline; a key id is not an option either.
 */
function assertKeyArgs(key: SigningKey): void {
  if (!/^[A-Za-z0-9@._+<>() -]{1,256}$/.test(key.keyId) || key.keyId.startsWith('-')) {
    throw new ImageError(
      'sign_failed',
      `sign: key id ${JSON.stringify(key.keyId)}: letters, digits, @ . _ + < > ( ) - and spaces, not starting with -`,
    );
  }
  if (/[%\n\r]/.test(key.gnupgHome))
    throw new ImageError('sign_failed', `sign: GnuPG home ${JSON.stringify(key.gnupgHome)} may not contain % or a newline`);
}
