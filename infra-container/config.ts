import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { InfraConfig } from '../protocol/infra-config.js';
import { InfraError } from './errors.js';

/** Reads and validates the config file; a bad file throws CONFIG_READ or CONFIG_INVALID. */
export async function loadConfig(file: string): Promise<{ config: InfraConfig; text: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InfraError('CONFIG_READ', `read infra config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { config: parseConfig(text, file), text };
}

export function parseConfig(text: string, file = '<text>'): InfraConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InfraError('CONFIG_INVALID', `parse infra config ${file}: ${(e as Error).message}`);
  }
  const r = InfraConfig.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InfraError('CONFIG_INVALID', `validate infra config ${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return r.data;
}

/**
 * Writes the config so a reader never sees a partial file: temp file in the
 * same directory, fsync, rename over the target, fsync the directory.
 */
export async function writeConfigAtomic(file: string, config: InfraConfig): Promise<void> {
  const text = JSON.stringify(InfraConfig.parse(config), null, 2) + '\n';
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
