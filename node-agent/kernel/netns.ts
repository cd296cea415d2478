/**
 * Named network namespaces in /run/netns (so `ip netns` lists them). Creating one needs
 * unshare(2) + a bind mount, which Node cannot do: iproute2 does it, in the caller's mount
 * namespace (run the agent in the host mount namespace, or the mount stays private to it).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class NetnsError extends Error {
  override readonly name = 'NetnsError';
  readonly code = 'netns_failed';
  constructor(
    readonly op: string,
    readonly target: string,
    detail: string,
  ) {
    super(`${op} netns ${target}: ${detail}`);
  }
}

export const NETNS_DIR = '/run/netns';
export const netnsFile = (name: string): string => `${NETNS_DIR}/${name}`;
export const netnsExists = (name: string): boolean => existsSync(netnsFile(name));

async function ip(op: string, name: string, args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new NetnsError(op, name, (err.stderr || err.message).trim());
  }
}

/** A namespace or link name as `ip` reads it: never an option, never two batch words. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const CIDR_RE = /^[0-9A-Fa-f.:]{2,39}\/\d{1,3}$/;
const IP4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;
function checkName(op: string, name: string, what = name): void {
  if (!NAME_RE.test(what)) throw new NetnsError(op, name, `${JSON.stringify(what)} is not a valid interface or namespace name`);
}

/** Creates the namespace; an existing one is kept. */
export async function createNetns(name: string): Promise<void> {
  checkName('create', name);
  if (!netnsExists(name)) await ip('create', name, ['netns', 'add', name]);
}

/**
 * Sets links inside the namespace up, `lo` included (nspawn does not). A veth peer cannot be
 * created up (the kernel answers ENOTCONN: the pair is not linked yet), hence this second step,
 * one `ip -batch` for all links. Static addresses (the infra container's reserved one) go
 * in the same batch.
 */
export async function linksUp(
  name: string,
  links: string[],
  addresses: Array<{ dev: string; cidr: string }> = [],
  routes: Array<{ dev: string; via: string }> = [],
): Promise<void> {
  checkName('set links up in', name);
  for (const l of [...links, ...addresses.map((a) => a.dev), ...routes.map((r) => r.dev)]) checkName('set links up in', name, l);
  for (const a of addresses)
    if (!CIDR_RE.test(a.cidr)) throw new NetnsError('set links up in', name, `${JSON.stringify(a.cidr)} is not an address/prefix`);
  for (const r of routes)
    if (!IP4_RE.test(r.via)) throw new NetnsError('set links up in', name, `${JSON.stringify(r.via)} is not an IPv4 address`);
  // routes last: a gateway route needs its link up
  const lines = [
    ...addresses.map((a) => `address replace ${a.cidr} dev ${a.dev}`),
    ...links.map((l) => `link set dev ${l} up`),
    ...routes.map((r) => `route replace default via ${r.via} dev ${r.dev}`),
  ];
  const script = lines.join('\n') + '\n';
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ip', ['-n', name, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', (e) => reject(new NetnsError('set links up in', name, e.message)));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new NetnsError('set links up in', name, err.trim() || `exit ${code}`))));
    p.stdin.end(script);
  });
}

/** Deletes the namespace (its interfaces go with it); absent is fine. */
export async function deleteNetns(name: string): Promise<void> {
  checkName('delete', name);
  if (netnsExists(name)) await ip('delete', name, ['netns', 'del', name]);
}
