/** Pure: which names and addresses the controller's serving certificate must cover. */
import { isIP } from 'node:net';

export interface Sans {
  ips: string[];
  dns: string[];
}

export type Interfaces = Record<string, Array<{ address: string; internal: boolean; family: string | number }> | undefined>;

const WILDCARD = new Set(['', '0.0.0.0', '::', '[::]']);

/**
 * The listen host (every interface address and the host name when it is a wildcard), the
 * operator's `--tls-san` entries, and loopback (freightctl on the controller's host).
 */
export function wantedSans(listenHost: string, extra: string[], ifaces: Interfaces, hostname: string): Sans {
  const ips = new Set(['127.0.0.1', '::1']);
  const dns = new Set(['localhost']);
  const add = (v: string) => {
    const x = v.trim().replace(/^\[|\]$/g, '');
    if (!x) return;
    if (isIP(x)) ips.add(x.toLowerCase());
    else dns.add(x.toLowerCase());
  };
  if (WILDCARD.has(listenHost)) {
    for (const list of Object.values(ifaces)) for (const a of list ?? []) if (!a.internal) add(a.address.split('%')[0]);
    add(hostname);
  } else add(listenHost);
  for (const e of extra) for (const part of e.split(',')) add(part);
  return { ips: [...ips].sort(), dns: [...dns].sort() };
}

/** True when every wanted entry is in `have` (IPs compared in canonical form). */
export function covers(have: Sans, want: Sans): boolean {
  const ips = new Set(have.ips.map(canonicalIp));
  const dns = new Set(have.dns.map((d) => d.toLowerCase()));
  return want.ips.every((ip) => ips.has(canonicalIp(ip))) && want.dns.every((d) => dns.has(d));
}

/** Sans of a certificate's `subjectAltName` string as node:crypto prints it. */
export function parseSubjectAltName(text: string | undefined): Sans {
  const out: Sans = { ips: [], dns: [] };
  for (const part of (text ?? '').split(/,\s*/)) {
    if (part.startsWith('IP Address:')) out.ips.push(part.slice(11));
    else if (part.startsWith('DNS:')) out.dns.push(part.slice(4));
  }
  return out;
}

function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  // expand to 8 groups without leading zeros: 0:0:0:0:0:0:0:1 and ::1 compare equal
  const [head, tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') && tail ? tail.split(':') : [];
  const fill = ip.includes('::') ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.replace(/^0+(?=.)/, '')).join(':');
}
