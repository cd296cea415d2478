import { ZodError } from 'zod';
import { isUnavailable, sqlState } from './store/db.js';

/** The controller's error catalogue: every code a client can see, with its HTTP status. */
export const ERROR_STATUS = {
  invalid: 400,
  repo_url_insecure: 400,
  bad_json: 400,
  reserved_name: 400,
  unknown_parameter: 400,
  unauthenticated: 401,
  forbidden: 403,
  admin_only_field: 403,
  admin_only_network_type: 403,
  not_found: 404,
  tenant_not_found: 404,
  network_not_found: 404,
  container_not_found: 404,
  node_not_found: 404,
  token_not_found: 404,
  image_not_found: 404,
  image_repo_not_found: 404,
  router_not_found: 404,
  external_network_not_found: 404,
  floating_ip_not_found: 404,
  package_repo_not_found: 404,
  security_group_not_found: 404,
  security_rule_not_found: 404,
  cross_tenant_group: 403,
  too_many_rules: 409,
  conflict: 409,
  container_not_running: 409,
  overlap: 409,
  in_use: 409,
  immutable_field: 409,
  port_in_use: 409,
  floating_ip_associated: 409,
  pool_exhausted: 409,
  address_in_use: 409,
  address_reserved: 409,
  mac_in_use: 409,
  node_lacks_physical_network: 409,
  too_many_image_repos: 409,
  image_repo_rollback: 409,
  image_repo_invalid: 422,
  image_repo_bad_signature: 422,
  idempotency_key_in_progress: 409,
  body_too_large: 413,
  idempotency_key_reused: 422,
  too_many_auth_failures: 429,
  too_many_execs: 429,
  unsupported_media_type: 415,
  database_unavailable: 503,
  node_unavailable: 503,
  too_many_streams: 503,
  image_repo_unavailable: 503,
  internal: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * A typed API error: stable `code`, HTTP status from the catalogue, optional field path;
 * `cause` when it wraps another error (logged, never sent).
 */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = ERROR_STATUS[code];
  }
  body(): { code: string; message: string; path?: string } {
    return this.path === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, path: this.path };
  }
}

/** `['networks', 0]` → `networks.0`; the body itself → ''. */
export function zodPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map(String).join('.');
}

export function fromZod(err: ZodError, what: string): ApiError {
  const issue = err.issues[0];
  const path = issue ? zodPath(issue.path) : '';
  const where = path ? `${path}: ` : '';
  return new ApiError('invalid', `${what}: ${where}${issue ? plainIssue(issue) : 'invalid'}`, path || undefined);
}

const UNITS: Record<string, string> = { string: ' characters', array: ' items', set: ' items' };
const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

/** A zod issue in plain words: zod's own defaults ("Too big: expected number to be <=1000") reach users otherwise. */
export function plainIssue(issue: ZodError['issues'][number]): string {
  // a schema's own message is kept; zod's defaults start with these
  if (!/^(Invalid input|Too big|Too small|Invalid option|Unrecognized key)/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return /received undefined$/.test(issue.message) ? 'required' : `expected ${article(issue.expected)}`;
    case 'too_big':
      return `at most ${String(issue.maximum)}${UNITS[issue.origin] ?? ''}${issue.inclusive === false ? ' (exclusive)' : ''}`;
    case 'too_small':
      return issue.origin === 'string' && issue.minimum === 1
        ? 'must not be empty'
        : `at least ${String(issue.minimum)}${UNITS[issue.origin] ?? ''}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    default:
      return issue.message;
  }
}

// Constraint → (code, message) for PostgreSQL integrity errors.
const CONSTRAINTS: Record<string, [ErrorCode, string]> = {
  tenants_name_key: ['conflict', 'a tenant with this name already exists'],
  networks_tenant_id_name_key: ['conflict', 'a network with this name already exists in the tenant'],
  networks_vni_key: ['conflict', 'the VNI is already used by another network'],
  networks_no_overlap: ['overlap', 'the CIDR overlaps another network of the tenant'],
  networks_physical_vlan: ['conflict', 'the VLAN is already used on this physical network (by this or another tenant)'],
  networks_physical_flat: ['conflict', 'the physical network already carries a flat (untagged) network'],
  network_pools_no_overlap: ['overlap', 'the pools overlap'],
  containers_name: ['conflict', 'a container with this name already exists in the tenant'],
  containers_one_infra: ['conflict', 'the network already has an infra instance'],
  endpoints_network_id_ip_key: ['address_in_use', 'the address is already allocated in the network'],
  endpoints_network_id_mac_key: ['mac_in_use', 'the MAC is already allocated in the network'],
  routers_tenant_id_name_key: ['conflict', 'a router with this name already exists in the tenant'],
  security_groups_tenant_id_name_key: ['conflict', 'a security group with this name already exists in the tenant'],
  security_group_rules_unique_ports: ['conflict', 'the group already has this rule'],
  published_ports_node_port: ['port_in_use', 'the port is already published on that node address'],
  floating_ips_container: ['conflict', 'the container already has a floating IP'],
  floating_ips_network_id_ip_key: ['conflict', 'the address is already a floating IP'],
  nodes_name_key: ['conflict', 'a node with this name already exists'],
  tokens_hash_key: ['conflict', 'the token already exists'],
  image_repositories_tenant_id_name_key: ['conflict', 'the tenant already has an image repository of this name'],
  image_repositories_tenant_id_url_key: ['conflict', 'the tenant already has an image repository with this URL'],
};

/** Maps a database error to an ApiError, or undefined when it is not the client's doing. */
export function fromDatabase(err: unknown, op: string): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (isUnavailable(err)) return new ApiError('database_unavailable', `${op}: database unavailable`, undefined, { cause: err });
  const state = sqlState(err);
  const constraint = String((err as { constraint?: unknown }).constraint ?? '');
  const detail = String((err as Error).message ?? '');
  const known = CONSTRAINTS[constraint];
  if (constraint === 'security_groups_same_tenant')
    return new ApiError('cross_tenant_group', `${op}: a security group of another tenant`, undefined, { cause: err });
  switch (state) {
    case '23505':
    case '23P01':
      return new ApiError(known ? known[0] : 'conflict', `${op}: ${known ? known[1] : detail}`, undefined, { cause: err });
    case '23514':
    case '23502':
    case '22P02':
    case '22001':
    case '22003':
      return new ApiError('invalid', `${op}: ${detail}`, undefined, { cause: err });
    case '23503':
      return new ApiError('in_use', `${op}: still referenced (${constraint || detail})`, undefined, { cause: err });
    default:
      return undefined;
  }
}

/** Fastify's own client errors (bad JSON, huge bodies, media type) → catalogue codes. */
export function fromFastify(err: { code?: string; statusCode?: number; message?: string }): ApiError | undefined {
  const status = err.statusCode ?? 0;
  if (status < 400 || status >= 500) return undefined;
  const msg = err.message ?? 'bad request';
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) return new ApiError('body_too_large', 'request body too large');
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) return new ApiError('unsupported_media_type', msg);
  if (err.code?.startsWith('FST_ERR_CTP') || err instanceof SyntaxError) return new ApiError('bad_json', `request body: ${msg}`);
  if (status === 404) return new ApiError('not_found', msg);
  return new ApiError('invalid', msg);
}

/** The one place any thrown value becomes an HTTP answer. */
export function toApiError(err: unknown, op: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ZodError) return fromZod(err, op);
  return fromDatabase(err, op) ?? fromFastify(err as never) ?? new ApiError('internal', `${op}: internal error`, undefined, { cause: err });
}
