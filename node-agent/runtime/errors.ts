/** Runtime error catalogue: a stable `code`, the operation and the object it concerns. */
export type RuntimeErrorCode =
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_INVALID'
  | 'IMAGE_NAME_INVALID'
  /** an RPM image failed verification (unsigned, unknown key, bad signature, tampered) */
  | 'IMAGE_REFUSED'
  /** an RPM image could not be fetched or installed */
  | 'IMAGE_PULL_FAILED'
  | 'CONTAINER_NOT_FOUND'
  | 'BRIDGE_MISSING'
  | 'NETNS_FAILED'
  | 'VETH_FAILED'
  | 'MOUNT_FAILED'
  | 'NSPAWN_FAILED'
  /** no usable cgroup hierarchy, or the agent's v2 cgroup is not delegated: no container runs without limits */
  | 'CGROUP_UNAVAILABLE'
  | 'CGROUP_FAILED'
  | 'COMMAND_FAILED'
  | 'STATE_INVALID';

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    readonly op: string,
    readonly target: string,
    detail: string,
    /** Transient errors (a bridge not created yet) are retried without counting as a failure of the container. */
    readonly transient = false,
  ) {
    super(`${op} ${target}: ${detail}`);
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
