/**
 * How a client (agent, freightctl) trusts the controller: a pinned CA fingerprint, a CA file,
 * the system's CAs, or explicitly nothing (`--insecure`, plaintext). A pin is resolved by one
 * unauthenticated handshake that only reads the chain the server presents and takes the
 * certificate whose SHA-256 matches; every real connection then verifies the server against
 * that CA (chain and host name) as usual.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';

export type Trust = { kind: 'pin'; fingerprint: string } | { kind: 'ca'; pem: string } | { kind: 'system' } | { kind: 'insecure' };

export class TrustError extends Error {
  constructor(
    readonly code: 'ca_pin_mismatch' | 'tls_unreachable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const fp = (raw: Buffer) => `sha256:${createHash('sha256').update(raw).digest('hex')}`;

/** Certificates of a presented chain, leaf first. */
function chainOf(cert: tls.DetailedPeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  let c: tls.DetailedPeerCertificate | undefined = cert;
  while (c && c.raw && !out.some((r) => r.equals(c!.raw))) {
    out.push(c.raw);
    c = c.issuerCertificate;
  }
  return out;
}

const toPem = (raw: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${raw
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END CERTIFICATE-----\n`;

/** The CA certificate (PEM) that `url`'s server presents and whose fingerprint is `pin`. */
export function fetchPinnedCa(url: string, pin: string, timeoutMs = 5000): Promise<string> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 443);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, timeout: timeoutMs });
    const fail = (e: Error) => {
      socket.destroy();
      reject(e);
    };
    socket.once('timeout', () => fail(new TrustError('tls_unreachable', `controller ${host}:${port}: TLS handshake timed out`)));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      fail(new TrustError('tls_unreachable', `controller ${host}:${port}: ${err.code ?? err.message}`, { cause: err })),
    );
    socket.once('secureConnect', () => {
      const chain = chainOf(socket.getPeerCertificate(true));
      socket.end();
      const match = chain.find((raw) => fp(raw) === pin);
      if (!match) {
        return reject(
          new TrustError(
            'ca_pin_mismatch',
            `controller ${host}:${port} is not the one the join string names: no certificate it presented matches the pinned CA ${pin} ` +
              `(presented ${chain.map(fp).join(', ') || 'none'}). ` +
              'Refusing to connect: check the join string, or whether something intercepts the connection',
          ),
        );
      }
      resolve(toPem(match));
    });
  });
}

/** The fingerprint of a PEM certificate. */
export const fingerprintOfPem = (pem: string) => fp(new X509Certificate(pem).raw);
