import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImageError } from './errors.js';
import { run } from './exec.js';

/** The binary OpenPGP packets of ASCII-armoured public key blocks (what gpgv takes as a keyring). */
export function dearmor(armoured: string): Buffer {
  const out: Buffer[] = [];
  const blocks = armoured.matchAll(/-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n([\s\S]*?)-----END PGP PUBLIC KEY BLOCK-----/g);
  for (const [, body] of blocks) {
    const lines = body.split(/\r?\n/);
    const blank = lines.findIndex((l) => l.trim() === ''); // armour headers end at the first empty line
    const data = lines.slice(blank + 1).filter((l) => l.trim() && !l.startsWith('='));
    out.push(Buffer.from(data.join(''), 'base64'));
  }
  return Buffer.concat(out);
}

/**
 * Checks `repomd.xml.asc` (a detached signature, armoured or not) over repomd.xml with the
 * repository's public key only, by gpgv: no keyring of the host is consulted, nothing is
 * imported anywhere. Throws repo_bad_signature unless gpgv reports a valid signature.
 */
export async function verifyRepomd(publicKey: string, repomd: Buffer, signature: Buffer, what: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'freight-repomd-'));
  try {
    const [keyring, data, sig] = ['key.gpg', 'repomd.xml', 'repomd.xml.asc'].map((f) => path.join(dir, f));
    await writeFile(keyring, dearmor(publicKey), { mode: 0o600 });
    await writeFile(data, repomd, { mode: 0o600 });
    await writeFile(sig, signature, { mode: 0o600 });
    const r = await run('gpgv', ['--homedir', dir, '--status-fd', '1', '--keyring', keyring, sig, data]);
    if (r.code === 0 && /^\[GNUPG:\] VALIDSIG /m.test(r.stdout)) return;
    const status = /^\[GNUPG:\] (BADSIG|ERRSIG|NO_PUBKEY|NODATA|EXPSIG|REVKEYSIG)\b/m.exec(r.stdout)?.[1] ?? `gpgv exited ${r.code}`;
    throw new ImageError('repo_bad_signature', `${what}: repomd.xml.asc does not verify with the repository's key (${status})`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
