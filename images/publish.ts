import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { runOk } from './exec.js';

/**
 * Copies image RPMs into a repository directory and (re)builds its yum metadata
 * with createrepo_c. `--update` reuses metadata of unchanged packages.
 */
export async function publishRepo(repoDir: string, rpms: string[] = []): Promise<void> {
  await mkdir(repoDir, { recursive: true });
  for (const rpm of rpms) await copyFile(rpm, path.join(repoDir, path.basename(rpm)));
  await runOk(`publish repository ${repoDir}`, 'publish-failed', 'createrepo_c', ['--quiet', '--update', '--no-database', repoDir]);
}
