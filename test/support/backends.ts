import { freshDatabase } from './pg.js';
import { openDb, type Db } from '../../controller/store/db.js';

/** A database a suite runs against: the machine's PostgreSQL (fresh, dropped after) or PGlite in memory. */
export interface Backend {
  name: string;
  open(): Promise<{ db: Db; drop(): Promise<void> }>;
}

/** Both stores the controller supports, for `describe.each(BACKENDS)`. */
export const BACKENDS: Backend[] = [
  {
    name: 'postgres',
    async open() {
      const fresh = await freshDatabase();
      return { db: await openDb({ databaseUrl: fresh.url }), drop: fresh.drop };
    },
  },
  { name: 'pglite', open: async () => ({ db: await openDb({}), drop: async () => {} }) },
];
