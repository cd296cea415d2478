/**
 * The controller's TLS material. Without `--tls-cert/--tls-key` it keeps its own CA and a
 * serving certificate in `<state dir>/tls/` (keys 0600): created at first start, the serving
 * certificate re-issued at start when it no longer covers the wanted names or expires within
 * 30 days. The CA stays, so join strings (which pin its fingerprint) stay valid.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ensurePrivateDir, readSecret, writeSecret } from '../secrets/files.js';
import { createCa, createServerCert, fingerprint, splitPem, type Pem } from './certs.js';
import { covers, parseSubjectAltName, type Sans } from './sans.js';

export { fingerprint } from './certs.js';
export { wantedSans } from './sans.js';

export interface ControllerTls {
  /** Serving chain (leaf first, then the CA) and its key. */
  cert: string;
  key: string;
  /** The certificate clients pin (join strings, `--ca-fingerprint`) and `--ca FILE` names. */
  caCert: string;
  fingerprint: string;
  /** Where the CA certificate lives (own CA) or the operator's chain file. */
  caFile: string;
  /** What changed at this start: 'ca', 'server'. */
  created: string[];
}

const RENEW_MS = 30 * 86_400_000;

export const tlsDir = (stateDir: string) => path.join(stateDir, 'tls');

async function readPair(dir: string, name: string): Promise<Pem | undefined> {
  const key = await readSecret(path.join(dir, `${name}.key`), 'TLS key');
  if (key === undefined) return undefined;
  return { cert: await readFile(path.join(dir, `${name}.crt`), 'utf8'), key };
}

async function writePair(dir: string, name: string, p: Pem): Promise<void> {
  await writeSecret(path.join(dir, `${name}.key`), p.key);
  await writeSecret(path.join(dir, `${name}.crt`), p.cert);
}

/** Whether a stored serving certificate is still good for `sans` under `ca`. */
export function serverCertFits(server: Pem, ca: Pem, sans: Sans, now: Date): boolean {
  const leaf = new X509Certificate(server.cert);
  if (!leaf.verify(new X509Certificate(ca.cert).publicKey)) return false;
  if (new Date(leaf.validTo).getTime() - now.getTime() < RENEW_MS) return false;
  return covers(parseSubjectAltName(leaf.subjectAltName), sans);
}

export async function ensureOwnTls(stateDir: string, sans: Sans, now = new Date()): Promise<ControllerTls> {
  const dir = tlsDir(stateDir);
  await ensurePrivateDir(dir, 'TLS directory');
  const created: string[] = [];
  let ca = await readPair(dir, 'ca');
  if (!ca) {
    ca = await createCa(now);
    await writePair(dir, 'ca', ca);
    created.push('ca');
  }
  let server = await readPair(dir, 'server');
  if (!server || created.includes('ca') || !serverCertFits(server, ca, sans, now)) {
    server = await createServerCert(ca, sans, now);
    await writePair(dir, 'server', server);
    created.push('server');
  }
  return {
    cert: `${server.cert.trim()}\n${ca.cert.trim()}\n`,
    key: server.key,
    caCert: ca.cert,
    fingerprint: fingerprint(ca.cert),
    caFile: path.join(dir, 'ca.crt'),
    created,
  };
}

/** `--tls-cert/--tls-key`: the pinned certificate is the last one of the chain file (put the CA there). */
export async function loadOperatorTls(certFile: string, keyFile: string): Promise<ControllerTls> {
  const chain = await readFile(certFile, 'utf8');
  const certs = splitPem(chain);
  if (certs.length === 0) throw new Error(`--tls-cert ${certFile}: no PEM certificate in it`);
  const key = await readSecret(keyFile, 'TLS key');
  if (key === undefined) throw new Error(`--tls-key ${keyFile}: no such file`);
  const caCert = certs[certs.length - 1];
  return { cert: chain, key, caCert, fingerprint: fingerprint(caCert), caFile: certFile, created: [] };
}
