import { chmod, mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import path from 'node:path';
import { NodeView } from '../../protocol/view.js';

/** The agent's last applied view, persisted atomically so a restarted agent resumes from its revision. */
export const VIEW_FILE = 'view.json';

export async function loadView(stateDir: string): Promise<NodeView | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(stateDir, VIEW_FILE), 'utf8');
  } catch {
    return undefined;
  }
  // a file that does not parse (torn JSON or an old shape) is treated as absent: the controller sends a snapshot
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = NodeView.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** Atomic (file and directory fsync'd): a crash leaves the old or the new view, never half. */
export async function saveView(stateDir: string, view: NodeView): Promise<void> {
  // the view holds commands, environments and ESP keys: 0600 in a 0700 directory
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  await writeFileAtomic(path.join(stateDir, VIEW_FILE), JSON.stringify(view), 0o600);
}
