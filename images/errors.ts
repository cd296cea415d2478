/**
 * Stable snake_case codes of the image tooling (the API's style); callers branch on `code`,
 * people read `message`; `cause` when it wraps another error.
 */
export type ImageErrorCode =
  | 'invalid_ref'
  | 'invalid_manifest'
  | 'build_failed'
  | 'sign_failed'
  | 'publish_failed'
  | 'repo_unreachable'
  | 'repo_corrupt'
  /** Refused by the fetch policy: scheme, address, redirect (the tenant sees repo_unreachable's message). */
  | 'repo_refused'
  | 'repo_too_large'
  /** Metadata older than what was already seen from this repository. */
  | 'repo_rollback'
  /** repomd.xml.asc does not verify with the repository's key (or vanished after being there). */
  | 'repo_bad_signature'
  | 'not_found'
  | 'checksum_mismatch'
  | 'unsigned'
  | 'unknown_key'
  | 'bad_signature'
  | 'tampered'
  /** signed, but what it would do on the node is refused (scriptlets, device nodes, setuid, a rootfs that is not a directory…) */
  | 'unsafe_package'
  | 'install_failed'
  | 'not_installed'
  | 'command_failed';

export class ImageError extends Error {
  override readonly name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isImageError(err: unknown, code?: ImageErrorCode): err is ImageError {
  return err instanceof ImageError && (code === undefined || err.code === code);
}
