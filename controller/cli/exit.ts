/**
 * freightctl's exit statuses (README "Exit statuses"). Scripts branch on them, so they never
 * change meaning: a new kind of failure takes a new number.
 */
export const EXIT = {
  ok: 0,
  /** the API refused the request (4xx/5xx other than below), or a local step failed */
  api: 1,
  /** the command line is wrong: unknown option, bad value, missing argument */
  usage: 2,
  /** the object (or its tenant) does not exist: HTTP 404 */
  notFound: 3,
  /** the request conflicts with the current state: HTTP 409 (in use, overlap, immutable field…) */
  conflict: 4,
  /** the controller could not be reached or was not trusted (connection, TLS, CA pin) */
  unreachable: 5,
} as const;

/** The exit status of an API error answer. */
export function exitForStatus(status: number): number {
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  return EXIT.api;
}

/** The exit status of an API error code where no HTTP status came with it (a WebSocket message). */
export function exitForCode(code: string): number {
  if (code === 'not_found' || code.endsWith('_not_found')) return EXIT.notFound;
  if (['conflict', 'in_use', 'overlap', 'immutable_field', 'container_not_running'].includes(code)) return EXIT.conflict;
  return EXIT.api;
}
