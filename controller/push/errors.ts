/** Errors of the push module, with a stable `code` (also sent to agents in `error` messages). */
export type PushErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'bad_message'
  | 'unavailable'
  | 'node_unavailable'
  | 'timeout'
  | 'closed'
  | 'revoked'
  | 'not_registered'
  | 'overflow';

export class PushError extends Error {
  constructor(
    readonly code: PushErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PushError';
  }
}
