import { constants } from 'node:os';

/** errno number → symbolic name (EEXIST, ENOENT, ...), from Node's own table. */
const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** snake_case codes (the API's style) of the errnos callers branch on or people meet; others are `kernel_error`. */
const ERRNO_CODES = {
  EEXIST: 'exists',
  ENOENT: 'not_found',
  ENODEV: 'no_device',
  ESRCH: 'no_such_entry',
  EINVAL: 'invalid',
  EPERM: 'permission_denied',
  EACCES: 'permission_denied',
  EBUSY: 'busy',
  EOPNOTSUPP: 'not_supported',
  EAFNOSUPPORT: 'not_supported',
  EPROTONOSUPPORT: 'not_supported',
  ENOBUFS: 'no_buffer_space',
  ENOMEM: 'no_memory',
  EMSGSIZE: 'message_too_large',
  EADDRINUSE: 'address_in_use',
  EADDRNOTAVAIL: 'address_not_available',
  ENETUNREACH: 'network_unreachable',
  ERANGE: 'out_of_range',
  // gateway-level failures, not kernel answers
  ETIMEDOUT: 'timeout',
  EPROTO: 'protocol_error',
  ECLOSED: 'closed',
  ENOXFRM: 'no_xfrm',
} as const;
export type NetlinkErrorCode = (typeof ERRNO_CODES)[keyof typeof ERRNO_CODES] | 'kernel_error';

export function codeOfErrno(name: string): NetlinkErrorCode {
  return (ERRNO_CODES as Record<string, NetlinkErrorCode>)[name] ?? 'kernel_error';
}

/**
 * A kernel (or socket) refusal, typed so callers can branch on `code` (snake_case); the errno
 * name stays in `errno` and in the message, which names the operation and the object:
 * `create vxlan frx-100: EEXIST`.
 */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** errno name (EEXIST, …), or ETIMEDOUT / EPROTO / ECLOSED / ENOXFRM for gateway-level failures */
  readonly errno: string;
  /** positive errno number (0 when the failure is not an errno, e.g. a timeout) */
  readonly errnoNumber: number;
  readonly code: NetlinkErrorCode;
  readonly op: string;
  readonly target: string;

  /** `errno`: the number (its name is looked up) or, with `name`, the name given (socket errors, gateway failures). */
  constructor(opts: { errno: number; name?: string; op: string; target: string; detail?: string; cause?: unknown }) {
    const name = opts.name ?? errnoName(opts.errno);
    super(
      `${opts.op} ${opts.target}: ${name}${opts.detail ? ` (${opts.detail})` : ''}`,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.errno = name;
    this.errnoNumber = Math.abs(opts.errno);
    this.code = codeOfErrno(name);
    this.op = opts.op;
    this.target = opts.target;
  }

  toJSON(): { code: string; errno: string; op: string; target: string; message: string } {
    return { code: this.code, errno: this.errno, op: this.op, target: this.target, message: this.message };
  }
}

export function isNetlinkError(e: unknown, code?: NetlinkErrorCode): e is NetlinkError {
  return e instanceof NetlinkError && (code === undefined || e.code === code);
}

/** Errors of the nft wrapper: `apply nft table freight: exit 1: <stderr>`. */
export class NftError extends Error {
  override readonly name = 'NftError';
  readonly code = 'nft_failed';
  constructor(
    readonly op: string,
    readonly target: string,
    detail: string,
  ) {
    super(`${op} ${target}: ${detail}`);
  }
}
