/**
 * freightctl's HTTP(S): node:https with the CA it was told to trust (`--ca`, FREIGHT_CA, or a
 * `--ca-fingerprint` pin resolved once per run), since fetch cannot take a CA without undici.
 * http:// is refused unless `--insecure`.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { normalizeFingerprint } from '../../protocol/join.js';
import { fetchPinnedCa, fingerprintOfPem, TrustError, type Trust } from '../../protocol/tls-trust.js';
import WebSocket from 'ws';
import { CliError } from './client.js';
import { EXIT } from './exit.js';

export interface TrustFlags {
  ca?: string;
  caFingerprint?: string;
  insecure?: boolean;
}

export interface HttpAnswer {
  status: number;
  text: string;
}

export type Send = (method: string, url: string, headers: Record<string, string>, body?: string) => Promise<HttpAnswer>;

export function trustOf(url: string, f: TrustFlags): Trust {
  const u = new URL(url);
  if (u.protocol === 'http:') {
    if (!f.insecure)
      throw new CliError(
        'plaintext_refused',
        `${url} is plaintext: the token would cross in clear. Use https:// (the controller's default), or --insecure`,
        2,
      );
    return { kind: 'insecure' };
  }
  if (u.protocol !== 'https:') throw new CliError('usage', `--url ${url}: expected https://`, 2);
  if (f.caFingerprint) return { kind: 'pin', fingerprint: normalizeFingerprint(f.caFingerprint) };
  if (f.ca) {
    try {
      return { kind: 'ca', pem: readFileSync(f.ca, 'utf8') };
    } catch (err) {
      throw new CliError('usage', `--ca ${f.ca}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
    }
  }
  return { kind: 'system' };
}

/** The fingerprint a join string should pin under this trust (undefined: system CAs or plaintext). */
export function pinOf(trust: Trust): string | undefined {
  if (trust.kind === 'pin') return trust.fingerprint;
  if (trust.kind === 'ca') {
    const certs = trust.pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    return certs.length ? fingerprintOfPem(certs[certs.length - 1]) : undefined;
  }
  return undefined;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;

/** The CA to verify the controller against (a pin is resolved once, on first use). */
export function caResolver(base: string, trust: Trust): () => Promise<string | undefined> {
  let ca: Promise<string | undefined> | undefined;
  return () =>
    (ca ??=
      trust.kind === 'pin'
        ? fetchPinnedCa(base, trust.fingerprint).catch((err: unknown) => {
            if (err instanceof TrustError && err.code === 'ca_pin_mismatch') throw new CliError(err.code, err.message, EXIT.unreachable);
            throw new CliError('unreachable', `cannot reach the controller at ${base}: ${(err as Error).message}`, EXIT.unreachable);
          })
        : Promise.resolve(trust.kind === 'ca' ? trust.pem : undefined));
}

/** Opens a WebSocket to a path of the controller (wss:// under the same trust as the requests). */
export type Dial = (path: string, token: string | undefined) => Promise<WebSocket>;

export function dialer(base: string, trust: Trust): Dial {
  const caOf = caResolver(base, trust);
  return async (path, token) => {
    const u = new URL(base.replace(/\/+$/, '') + path);
    const secure = u.protocol === 'https:';
    u.protocol = secure ? 'wss:' : 'ws:';
    return new WebSocket(u, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      handshakeTimeout: 30_000,
      ...(secure ? { ca: await caOf(), rejectUnauthorized: true } : {}),
    });
  };
}

export function sender(base: string, trust: Trust): Send {
  const caOf = caResolver(base, trust);
  return async (method, url, headers, body) => {
    const u = new URL(url);
    const options = u.protocol === 'https:' ? { ca: await caOf(), rejectUnauthorized: true } : {};
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = (u.protocol === 'https:' ? https : http).request(u, { method, headers, timeout: 60_000, ...options }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? err.message;
        if (TLS_CODES.test(code))
          return reject(
            new CliError(
              'tls_unverified',
              `the controller at ${base} presented a certificate that is not trusted (${code}): ` +
                `give --ca FILE (the controller's STATE_DIR/tls/ca.crt), FREIGHT_CA, or --ca-fingerprint sha256:…`,
              EXIT.unreachable,
            ),
          );
        // the cause tells the client's retry whether the request may have been sent (ECONNRESET)
        reject(
          Object.assign(new CliError('unreachable', `cannot reach the controller at ${base}: ${code}`, EXIT.unreachable), { cause: err }),
        );
      });
      req.end(body);
    });
  };
}
