import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { runOk } from './exec.js';
import type { SigningKey } from './sign.js';

/**
 * Copies image RPMs into a repository directory and (re)builds its yum metadata
 * with createrepo_c. `--update` reuses metadata of unchanged packages. With a key,
 * repodata/repomd.xml gets a detached armoured signature (repomd.xml.asc), which the
 * controller and nodes check against the repository's registered key; without one a
 * stale signature is removed (it would no longer match).
 */
export async function publishRepo(dir: string, rpms: string[] = [], key?: SigningKey): Promise<void> {
  const repoDir = path.resolve(dir); // absolute: a directory named `-x` is never an option
  await mkdir(repoDir, { recursive: true });
  for (const rpm of rpms) await copyFile(rpm, path.join(repoDir, path.basename(rpm)));
  await runOk(`publish repository ${repoDir}`, 'publish_failed', 'createrepo_c', ['--quiet', '--update', '--no-database', '--', repoDir]);
  const repomd = path.join(repoDir, 'repodata', 'repomd.xml');
  await rm(`${repomd}.asc`, { force: true });
  if (!key) return;
  await runOk(
    `sign ${repomd}`,
    'publish_failed',
    'gpg',
    ['--batch', '--yes', '--local-user', key.keyId, '--armor', '--detach-sign', '--output', `${repomd}.asc`, '--', repomd],
    {
      env: { ...process.env, GNUPGHOME: key.gnupgHome },
    },
  );
}
