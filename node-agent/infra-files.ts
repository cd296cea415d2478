import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { infraConfigText, type InfraConfig } from '../protocol/infra-config.js';
import type { NodeView } from '../protocol/view.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { buildInfraConfig } from './infra-config.js';
import { containerPaths } from './runtime/paths.js';

/** What of a config matters to the servers: everything but the revision stamp. */
const contentKey = (c: InfraConfig): string => JSON.stringify({ ...c, revision: 0 });

/**
 * Writes the infra.json of every infra container this node hosts, before the runtime
 * starts them (nspawn binds the directory). Unchanged content is not rewritten, so
 * the servers reload only when bindings or network settings change.
 */
export class InfraFiles {
  private readonly written = new Map<string, string>();

  constructor(
    private readonly stateDir: string,
    private readonly upstreams: string[] = [],
  ) {}

  async sync(view: NodeView): Promise<string[]> {
    const changed: string[] = [];
    for (const c of Object.values(view.containers)) {
      if (c.kind !== 'infra') continue;
      const cfg = buildInfraConfig(view, c, this.upstreams);
      if (!cfg) continue;
      const key = contentKey(cfg);
      if (this.written.get(c.id) === key) continue;
      const dir = containerPaths(this.stateDir, c.id).config;
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(path.join(dir, 'infra.json'), infraConfigText(cfg), 0o644);
      this.written.set(c.id, key);
      changed.push(c.id);
    }
    for (const id of [...this.written.keys()]) if (!view.containers[id]) this.written.delete(id);
    return changed;
  }
}
