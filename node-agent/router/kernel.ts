/**
 * iproute2 and nft as the router module drives them: argument arrays (never a shell), names and
 * addresses the module made or the view validated. Reads are JSON (`ip -j`).
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { NETNS_DIR } from '../kernel/netns.js';

const run = promisify(execFile);

export class RouterError extends Error {
  override readonly name = 'RouterError';
  readonly code = 'router_failed';
  constructor(
    readonly op: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${op}: ${detail}`, options);
  }
}

async function exec(cmd: string, args: string[], input?: string): Promise<string> {
  try {
    const p = run(cmd, args, { timeout: 15_000, maxBuffer: 64 * 1024 * 1024 });
    if (input !== undefined) p.child.stdin?.end(input);
    return (await p).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new RouterError(`${cmd} ${args.slice(0, 6).join(' ')}`, (err.stderr || err.message).trim(), { cause: e });
  }
}

/** `ip [-n NS] ARGS…` */
export const ip = (ns: string | null, args: string[]): Promise<string> => exec('ip', ns ? ['-n', ns, ...args] : args);

/** `ip [-n NS] -batch -`: many commands in one process; `-force` goes on past a failing line and reports it. */
export async function ipBatch(ns: string | null, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await exec('ip', [...(ns ? ['-n', ns] : []), '-force', '-batch', '-'], lines.join('\n') + '\n');
}

/** `bridge -force -batch -` (FDB entries on the router ports). */
export async function bridgeBatch(lines: string[]): Promise<void> {
  if (lines.length > 0) await exec('bridge', ['-force', '-batch', '-'], lines.join('\n') + '\n');
}

export async function ipJson<T>(ns: string | null, args: string[]): Promise<T[]> {
  const out = await ip(ns, ['-j', ...args]);
  return out.trim() ? (JSON.parse(out) as T[]) : [];
}

/** `nft -f -` in the node's netns, or inside NS (nsenter: the agent's mount namespace stays). */
export const nftText = (ns: string | null, text: string): Promise<string> =>
  ns ? exec('nsenter', [`--net=${NETNS_DIR}/${ns}`, '--', 'nft', '-f', '-'], text) : exec('nft', ['-f', '-'], text);

export async function sysctl(ns: string, settings: Record<string, string>): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  await exec('nsenter', [`--net=${NETNS_DIR}/${ns}`, '--', 'sysctl', '-q', '-w', ...args]);
}

/**
 * Gratuitous ARP for `ip` on `dev` inside NS (`busybox arping -U`): the segment's switches and
 * hosts learn that the address now lives behind this port (a floating IP that moved).
 */
export const garp = (ns: string, dev: string, ip4: string): Promise<string> =>
  exec('nsenter', [`--net=${NETNS_DIR}/${ns}`, '--', 'busybox', 'arping', '-U', '-c', '2', '-w', '2', '-I', dev, '-s', ip4, ip4]);

export interface IpRule {
  priority?: number;
  fwmark?: string;
  table?: string;
}

export function netnsNames(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

export interface IpLink {
  ifname: string;
  master?: string;
  address?: string;
  mtu?: number;
  operstate?: string;
  flags?: string[];
}
export interface IpAddr {
  ifname: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}
export interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
}
