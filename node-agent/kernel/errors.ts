import { constants } from 'node:os';

/** errno number → symbolic name (EEXIST, ENOENT, ...), from Node's own table. */
const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(constants.errno).map(([name, n]) => [n as number, name]),
);

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/**
 * A kernel (or socket) refusal, typed so callers can branch on `code`.
 * The message names the operation and the object: `create vxlan frx-100: EEXIST`.
 */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** positive errno (0 when the failure is not an errno, e.g. a timeout) */
  readonly errno: number;
  /** stable code: the errno name, or ETIMEDOUT / EPROTO / ECLOSED for gateway-level failures */
  readonly code: string;
  readonly op: string;
  readonly target: string;

  constructor(opts: { errno: number; code?: string; op: string; target: string; detail?: string }) {
    const code = opts.code ?? errnoName(opts.errno);
    super(`${opts.op} ${opts.target}: ${code}${opts.detail ? ` (${opts.detail})` : ''}`);
    this.errno = Math.abs(opts.errno);
    this.code = code;
    this.op = opts.op;
    this.target = opts.target;
  }

  toJSON(): { code: string; errno: number; op: string; target: string; message: string } {
    return { code: this.code, errno: this.errno, op: this.op, target: this.target, message: this.message };
  }
}

export function isNetlinkError(e: unknown, code?: string): e is NetlinkError {
  return e instanceof NetlinkError && (code === undefined || e.code === code);
}

/** Errors of the nft wrapper: `apply nft table freight: exit 1: <stderr>`. */
export class NftError extends Error {
  override readonly name = 'NftError';
  readonly code = 'ENFT';
  constructor(readonly op: string, readonly target: string, detail: string) {
    super(`${op} ${target}: ${detail}`);
  }
}
