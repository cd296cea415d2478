/**
 * Error catalogue of the infra container: every error carries a stable snake_case `code`
 * (the API's style), and `cause` when it wraps another error.
 */
export type InfraErrorCode = 'dns_malformed' | 'dns_formerr' | 'dhcp_malformed' | 'config_invalid' | 'config_read';

export class InfraError extends Error {
  constructor(
    readonly code: InfraErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InfraError';
  }
}
