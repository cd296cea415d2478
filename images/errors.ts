/** Stable codes of the image tooling; callers branch on `code`, people read `message`. */
export type ImageErrorCode =
  | 'invalid-ref'
  | 'invalid-manifest'
  | 'build-failed'
  | 'sign-failed'
  | 'publish-failed'
  | 'repo-unreachable'
  | 'repo-corrupt'
  /** Refused by the fetch policy: scheme, address, redirect (the tenant sees repo-unreachable's message). */
  | 'repo-refused'
  | 'repo-too-large'
  /** Metadata older than what was already seen from this repository. */
  | 'repo-rollback'
  /** repomd.xml.asc does not verify with the repository's key (or vanished after being there). */
  | 'repo-bad-signature'
  | 'not-found'
  | 'checksum-mismatch'
  | 'unsigned'
  | 'unknown-key'
  | 'bad-signature'
  | 'tampered'
  /** signed, but what it would do on the node is refused (scriptlets, device nodes, setuid, a rootfs that is not a directory…) */
  | 'unsafe-package'
  | 'install-failed'
  | 'not-installed'
  | 'command-failed';

export class ImageError extends Error {
  override readonly name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isImageError(err: unknown, code?: ImageErrorCode): err is ImageError {
  return err instanceof ImageError && (code === undefined || err.code === code);
}
