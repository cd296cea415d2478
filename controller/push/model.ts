import type { Db } from '../store/db.js';
import { loadState, type KeyAccess } from '../view/load.js';
import { emptyState, type ClusterState } from '../view/state.js';

/** One replica's cluster model and the change-log revision it reflects. */
export class ClusterModel {
  state: ClusterState = emptyState();
  /** Newest change-log revision applied to the model (and sent to every live agent). */
  cursor = 0;

  /** The model as of one consistent database snapshot (REPEATABLE READ). */
  static async load(db: Db, keys: KeyAccess): Promise<{ state: ClusterState; revision: number }> {
    return db.tx(async (q) => {
      await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      return loadState(q, keys);
    });
  }

  adopt(loaded: { state: ClusterState; revision: number }): void {
    this.state = loaded.state;
    this.cursor = loaded.revision;
  }
}
