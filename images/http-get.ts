import { lookup as dnsLookup } from 'node:dns/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { ImageError } from './errors.js';
import { addressAllowed, addressKind, parseCidr, type AddressPolicy } from './net-policy.js';

/** How a repository may be fetched: the admin's address policy, http or not, time and hops. */
export interface FetchPolicy {
  address: AddressPolicy;
  /** Plain http (and an https → http redirect): only when the admin set `allowHttp` on the repository. */
  allowHttp: boolean;
  /** Whole request, connect to last body byte. */
  timeoutMs: number;
  maxRedirects?: number;
  /** Resolver (tests); the default is dns.lookup with every address. */
  resolve?: (host: string) => Promise<Array<{ address: string; family: number }>>;
}

export interface Opened {
  res: IncomingMessage;
  /** The URL finally answered (after redirects). */
  url: string;
  /** Aborts the request (timeout, cap reached, caller done). */
  abort(): void;
}

/**
 * What the tenant may see of a failure: the URL it gave and nothing else. Whether an
 * address was refused, a port closed or a status answered stays in `detail` (for the
 * controller's log): the controller is no port scanner for its tenants.
 */
export class RepoFetchError extends ImageError {
  constructor(
    code: 'repo_unreachable' | 'repo_refused' | 'not_found',
    url: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(code, `fetch ${url}: repository unreachable`, options);
  }
}

const resolveAll = async (host: string) => dnsLookup(host, { all: true, verbatim: true });

/** The addresses `host` resolves to, every one of them allowed, or a refusal. */
async function checkedAddresses(url: URL, p: FetchPolicy, shown: string): Promise<Array<{ address: string; family: number }>> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addrs: Array<{ address: string; family: number }>;
  try {
    addrs = isIP(host) ? [{ address: host, family: isIP(host) }] : await (p.resolve ?? resolveAll)(host);
  } catch (e) {
    throw new RepoFetchError('repo_unreachable', shown, `resolve ${host}: ${(e as Error).message}`, { cause: e });
  }
  const cidrs = p.address.allowCidrs.map(parseCidr);
  const bad = addrs.find((a) => !addressAllowed(a.address, p.address, cidrs));
  if (bad || addrs.length === 0) {
    throw new RepoFetchError(
      'repo_refused',
      shown,
      bad ? `${host} → ${bad.address} (${addressKind(bad.address)}) is not allowed (--repo-allow-cidr)` : `${host}: no address`,
    );
  }
  return addrs;
}

function checkScheme(url: URL, p: FetchPolicy, shown: string): void {
  if (url.protocol === 'https:' || (url.protocol === 'http:' && p.allowHttp)) return;
  const why = url.protocol === 'http:' ? 'plain http is not allowed for this repository (allowHttp)' : 'not an http(s) URL';
  throw new RepoFetchError('repo_refused', shown, `${url.protocol}//${url.host}: ${why}`);
}

/** A lookup that answers the address already checked: no second resolution, no DNS rebinding. */
function pinned(addr: { address: string; family: number }): LookupFunction {
  return ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
    if (opts?.all) cb(null, [addr]);
    else cb(null, addr.address, addr.family);
  }) as unknown as LookupFunction;
}

function request(url: URL, addr: { address: string; family: number }, signal: AbortSignal): Promise<IncomingMessage> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { lookup: pinned(addr), signal, agent: false, headers: { 'user-agent': 'freight', accept: '*/*' } }, resolve);
    req.on('error', reject);
  });
}

/**
 * GET through the fetch policy: scheme, every resolved address and every redirect hop
 * checked; the connection goes to the checked address; one deadline for the whole
 * request, body included. `shown` is the URL as the tenant gave it (for messages).
 */
export async function openGuarded(target: string, p: FetchPolicy, shown = target): Promise<Opened> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`timed out after ${p.timeoutMs} ms`)), p.timeoutMs);
  timer.unref();
  const abort = () => {
    clearTimeout(timer);
    ctl.abort(new Error('aborted'));
  };
  let url: URL | undefined;
  try {
    url = new URL(target);
    for (let hop = 0; ; hop++) {
      checkScheme(url, p, shown);
      const [addr] = await checkedAddresses(url, p, shown);
      const res = await request(url, addr, ctl.signal);
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (hop >= (p.maxRedirects ?? 5)) throw new RepoFetchError('repo_unreachable', shown, `more than ${p.maxRedirects ?? 5} redirects`);
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status < 200 || status > 299) {
        res.resume();
        throw new RepoFetchError(status === 404 ? 'not_found' : 'repo_unreachable', shown, `${url.href}: HTTP ${status}`);
      }
      res.once('end', () => clearTimeout(timer));
      res.once('error', () => clearTimeout(timer));
      return { res, url: url.href, abort };
    }
  } catch (e) {
    const reason = ctl.signal.aborted ? String(ctl.signal.reason?.message ?? 'aborted') : (e as Error).message;
    abort();
    if (e instanceof ImageError) throw e;
    throw new RepoFetchError('repo_unreachable', shown, `${url?.href ?? target}: ${reason}`);
  }
}

/** Counts bytes through a stream and fails it past `max`: a cap that never buffers. */
export function byteCap(max: number, what: string): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      t.bytes += chunk.length;
      if (t.bytes > max) return cb(new ImageError('repo_too_large', `${what}: larger than ${max} bytes`));
      cb(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

/** Reads a whole (small) body, refusing past `max` bytes; `shown` is the tenant's URL, for messages. */
export async function readCapped(o: Opened, max: number, shown: string): Promise<Buffer> {
  const what = `fetch ${shown}`; // never the redirect target: the tenant learns nothing it did not give
  const declared = Number(o.res.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    o.abort();
    throw new ImageError('repo_too_large', `${what}: larger than ${max} bytes`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of o.res as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > max) throw new ImageError('repo_too_large', `${what}: larger than ${max} bytes`);
      chunks.push(c);
    }
  } catch (e) {
    o.abort();
    if (e instanceof ImageError) throw e;
    throw new RepoFetchError('repo_unreachable', shown, `${o.url}: read body: ${(e as Error).message}`, { cause: e });
  }
  return Buffer.concat(chunks);
}
