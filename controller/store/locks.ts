/**
 * Every PostgreSQL advisory lock id Freight takes, in one place so no two uses collide.
 * schema.sql's record_change() takes CHANGE_LOG (SQL cannot import this; keep them equal).
 */
export const LOCKS = {
  /** record_change(): change-log revisions in commit order (schema.sql). */
  CHANGE_LOG: 7405517,
  /** Schema migration: concurrent replicas migrate one at a time. */
  MIGRATE: 7405518,
  /** First admin token / bootstrap: replicas starting together. */
  BOOTSTRAP: 7405519,
  /** VNI allocation, one at a time. */
  VNI: 7405520,
  /** The ipsec key manager's leader (session-level lock). */
  KEY_MANAGER: 7405521,
  /** Router slot allocation (transfer link addresses), one at a time. */
  ROUTER_SLOT: 7405523,
} as const;

/** `SELECT pg_catalog.pg_advisory_xact_lock(<id>)` for a registered lock (qualified: no search_path can shadow it). */
export const xactLock = (id: (typeof LOCKS)[keyof typeof LOCKS]): string =>
  `SELECT pg_catalog.pg_advisory_xact_lock(${id}::pg_catalog.int8)`;
