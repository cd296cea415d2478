import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ImageError } from './errors.js';
import { run, runOk } from './exec.js';
import { rpmDefines } from './rpmroot.js';

/** `gpg-pubkey-VERSION-RELEASE` entries of an rpm root's keyring. */
export async function listKeys(root: string): Promise<string[]> {
  const r = await run('rpm', ['--root', root, ...rpmDefines(), '-q', 'gpg-pubkey', '--qf', '%{NAME}-%{VERSION}-%{RELEASE}\n']);
  // exit 1 with "package gpg-pubkey is not installed" means an empty keyring
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean).sort() : [];
}

async function importKeys(root: string, keys: string[], scratch: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  for (const [i, key] of keys.entries()) {
    const file = path.join(scratch, `key-${i}.asc`);
    await writeFile(file, key, { mode: 0o600 });
    await runOk(`import key ${i + 1} into ${root}`, 'command_failed', 'rpmkeys', ['--root', root, ...rpmDefines(), '--import', '--', file]);
  }
}

/**
 * Makes the tenant root's keyring exactly `keys` (ASCII-armoured public keys):
 * imports new ones and removes keys of repositories the tenant no longer has,
 * so a withdrawn key stops verifying at once.
 */
export async function syncKeys(root: string, keys: string[], scratchDir: string): Promise<string[]> {
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(path.join(scratchDir, 'keys-'));
  try {
    const probe = path.join(scratch, 'root');
    await importKeys(probe, keys, scratch);
    const wanted = new Set(await listKeys(probe));
    await importKeys(root, keys, scratch);
    for (const k of await listKeys(root)) {
      if (!wanted.has(k))
        await runOk(`remove key ${k} from ${root}`, 'command_failed', 'rpm', [
          '--root',
          root,
          ...rpmDefines(),
          '--noscripts',
          '--notriggers',
          '-e',
          '--allmatches',
          '--',
          k,
        ]);
    }
    return [...wanted].sort();
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Verifies an RPM file against the root's keyring with `rpmkeys --checksig`
 * before anything of it is unpacked. Refuses, with the reason as the error
 * code, an unsigned, tampered, wrongly signed or unknown-key package.
 */
export async function checkSignature(root: string, rpm: string): Promise<{ keyId: string }> {
  const r = await run('rpmkeys', ['--root', root, ...rpmDefines(), '--checksig', '-v', '--', rpm]);
  const verdict = judgeChecksig(r.stdout + r.stderr, r.code);
  if ('code' in verdict) throw new ImageError(verdict.code, `verify ${path.basename(rpm)}: ${verdict.reason}`);
  return verdict;
}

export type ChecksigVerdict = { keyId: string } | { code: 'unsigned' | 'unknown_key' | 'bad_signature' | 'tampered'; reason: string };

/** Reads `rpmkeys --checksig -v` output (pure, so each refusal is unit-tested). */
export function judgeChecksig(output: string, exitCode: number): ChecksigVerdict {
  const lines = output.split('\n').map((l) => l.trim());
  const bad = lines.find((l) => /digest: BAD/.test(l));
  if (bad) return { code: 'tampered', reason: `content does not match its signed digests (${bad.replace(/\s*\(Expected.*$/, '')})` };
  const sigs = lines.filter((l) => /Signature, key ID [0-9a-f]+:/.test(l));
  const keyOf = (l: string) => /key ID ([0-9a-f]+)/.exec(l)?.[1] ?? '?';
  const nokey = sigs.find((l) => /: NOKEY/.test(l));
  if (nokey) return { code: 'unknown_key', reason: `signed by key ${keyOf(nokey)}, which is not among the tenant's repository keys` };
  const badSig = sigs.find((l) => !/: OK$/.test(l));
  if (badSig) return { code: 'bad_signature', reason: `signature check failed: ${badSig}` };
  if (!sigs.length) return { code: 'unsigned', reason: 'the package carries no signature' };
  if (exitCode !== 0)
    return { code: 'bad_signature', reason: `rpmkeys exited ${exitCode}: ${lines.filter(Boolean).slice(-2).join(' | ')}` };
  return { keyId: keyOf(sigs[0]) };
}
