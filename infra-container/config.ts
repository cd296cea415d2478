import { readFile } from 'node:fs/promises';
import { InfraConfig, infraConfigText } from '../protocol/infra-config.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { InfraError } from './errors.js';

/** Reads and validates the config file; a bad file throws config_read or config_invalid. */
export async function loadConfig(file: string): Promise<{ config: InfraConfig; text: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InfraError('config_read', `read infra config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
    });
  }
  return { config: parseConfig(text, file), text };
}

export function parseConfig(text: string, file = '<text>'): InfraConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InfraError('config_invalid', `parse infra config ${file}: ${(e as Error).message}`, { cause: e });
  }
  const r = InfraConfig.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InfraError('config_invalid', `validate infra config ${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return r.data;
}

/** Writes the config atomically (file and directory fsync'd); validates it first. */
export async function writeConfigAtomic(file: string, config: InfraConfig): Promise<void> {
  await writeFileAtomic(file, infraConfigText(config), 0o644);
}
