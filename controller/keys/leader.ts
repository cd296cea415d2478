import pg from 'pg';
import { DB_TIMEOUTS, pgClientConfig } from '../store/db.js';
import { LOCKS } from '../store/locks.js';

/** Session advisory lock held by the replica that runs the key manager. */
export const KEY_MANAGER_LOCK = LOCKS.KEY_MANAGER;

/** Leadership: `acquire()` tries once; `held()` says whether this process still holds it. */
export interface Leadership {
  acquire(): Promise<boolean>;
  held(): boolean;
  release(): Promise<void>;
}

/** The only process on an embedded database (PGlite) always leads. */
export const soleLeader = (): Leadership => ({ acquire: async () => true, held: () => true, release: async () => {} });

/**
 * pg_try_advisory_lock on a dedicated connection: the lock lives as long as the session,
 * so a replica that dies or loses its connection hands leadership over by itself.
 */
export function advisoryLeader(url: string): Leadership {
  let client: pg.Client | undefined;
  let leading = false;
  const drop = (c: pg.Client) => {
    if (client !== c) return;
    client = undefined;
    leading = false;
    c.end().catch(() => {});
  };
  return {
    async acquire() {
      if (leading) return true;
      if (!client) {
        // keepalive and a query timeout: a silent server must cost the lock, not hang the key manager
        const c = new pg.Client({ ...pgClientConfig(url, DB_TIMEOUTS), connectionTimeoutMillis: 3000 });
        c.on('error', () => drop(c));
        c.on('end', () => drop(c));
        client = c;
        try {
          await c.connect();
        } catch {
          drop(c);
          return false;
        }
      }
      const c = client;
      try {
        // qualified and typed: this session keeps the default "$user", public path (docs/security.md)
        const { rows } = await c.query<{ ok: boolean }>('SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8) AS ok', [
          KEY_MANAGER_LOCK,
        ]);
        leading = client === c && rows[0].ok === true;
      } catch {
        drop(c);
      }
      return leading;
    },
    held: () => leading,
    async release() {
      const c = client;
      client = undefined;
      leading = false;
      await c?.end().catch(() => {});
    },
  };
}
