/** View items for planner tests and benches: the fields every container shares, the rest given. */
import type { ViewContainer } from '../../protocol/view.js';

/** A running busybox container of tenant `t` (unless `extra` says otherwise), named after its id. */
export function viewContainer(id: string, extra: Partial<ViewContainer> = {}): ViewContainer {
  return {
    id,
    tenant: 't',
    name: id,
    kind: 'container',
    image: 'busybox',
    command: [],
    boot: false,
    restart: 'never',
    desired: 'running',
    generation: 1,
    ...extra,
  };
}
