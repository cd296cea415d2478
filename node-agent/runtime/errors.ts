/**
 * Runtime error catalogue: a stable snake_case `code` (the API's style), the operation and the
 * object it concerns; `cause` when it wraps another error.
 */
export type RuntimeErrorCode =
  | 'image_not_found'
  | 'image_invalid'
  | 'image_name_invalid'
  /** an RPM image failed verification (unsigned, unknown key, bad signature, tampered) */
  | 'image_refused'
  /** an RPM image could not be fetched or installed */
  | 'image_pull_failed'
  | 'container_not_found'
  | 'bridge_missing'
  | 'netns_failed'
  | 'veth_failed'
  | 'mount_failed'
  | 'nspawn_failed'
  /** an interface plugged into a running container got no usable DHCP answer */
  | 'dhcp_failed'
  /** no usable cgroup hierarchy, or the agent's v2 cgroup is not delegated: no container runs without limits */
  | 'cgroup_unavailable'
  | 'cgroup_failed'
  | 'command_failed'
  /** `container exec`: the container does not run, the node's exec limit is reached, the command could not start */
  | 'container_not_running'
  | 'too_many_execs'
  | 'exec_failed'
  | 'state_invalid';

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    readonly op: string,
    readonly target: string,
    detail: string,
    /** Transient errors (a bridge not created yet) are retried without counting as a failure of the container. */
    readonly transient = false,
    options?: { cause?: unknown },
  ) {
    super(`${op} ${target}: ${detail}`, options);
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
