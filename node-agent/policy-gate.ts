/**
 * Pure: a container's port is never up without its rules. When the nft batch of a view failed
 * (the previous ruleset stays, nft batches are atomic), the runtime gets the view without the
 * containers under policy it was not already running; they start with the next view that
 * applies cleanly. Containers already running keep their (previous) rules.
 */
import type { NodeView } from '../protocol/view.js';

export function holdBackGuarded(view: NodeView, running: ReadonlySet<string>): { view: NodeView; held: string[] } {
  const held = Object.values(view.containers)
    .filter((c) => c.securityGroups !== undefined && !running.has(c.id))
    .map((c) => c.id)
    .sort();
  if (held.length === 0) return { view, held };
  const containers = { ...view.containers };
  for (const id of held) delete containers[id];
  return { view: { ...view, containers }, held };
}

/** The nft batch of the `inet` table (the security groups' and the ipsec guard's) failed in this apply. */
export const inetFailed = (errors: Array<{ op: string }>) => errors.some((e) => e.op.includes('table inet freight'));
