import type { Db, Queryable } from './db.js';

/**
 * Row-level security scope of one API request: the caller's tenant id, or '*' for admins
 * (schema.sql: policies on tenants, networks, containers, endpoints, ipsec_rotations).
 */
export type Scope = string;
export const ALL_TENANTS: Scope = '*';

/** The role every API transaction switches to; it has no BYPASSRLS and no right on ipsec_keys. */
export const API_ROLE = 'freight_api';

/**
 * Enters the scope for the rest of the current transaction: role and tenant are both
 * transaction-local (set_config(..., true) = SET LOCAL), so a pooled connection goes back clean.
 * Called again inside one transaction it switches tenant (group commit of several tenants' creates).
 */
export async function enterScope(q: Queryable, scope: Scope): Promise<void> {
  await q.query(`SELECT set_config('role', '${API_ROLE}', true), set_config('freight.tenant', $1, true)`, [scope]);
}

/**
 * A Db whose every query and transaction runs as freight_api within `scope`. A lone query is
 * wrapped in its own transaction, since the settings are transaction-local.
 */
export function scopedDb(db: Db, scope: Scope): Db {
  const tx: Db['tx'] = (fn) =>
    db.tx(async (q) => {
      await enterScope(q, scope);
      return fn(q);
    });
  return {
    kind: db.kind,
    query: (sql, params) => tx((q) => q.query(sql, params)),
    script: (sql) => tx((q) => q.script(sql)),
    tx,
    listen: (...args) => db.listen(...args),
    close: async () => {},
  };
}
