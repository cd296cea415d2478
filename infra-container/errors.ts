/** Error catalogue of the infra container: every error carries a stable `code`. */
export type InfraErrorCode =
  | 'DNS_MALFORMED'
  | 'DNS_FORMERR'
  | 'DHCP_MALFORMED'
  | 'CONFIG_INVALID'
  | 'CONFIG_READ';

export class InfraError extends Error {
  constructor(
    readonly code: InfraErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InfraError';
  }
}
