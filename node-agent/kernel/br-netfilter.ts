/**
 * br_netfilter in the agent's network namespace: bridged IPv4 must pass the inet hooks (with
 * conntrack) for security groups to see it. The sysctl is per namespace; the agent sets it on.
 * Equivalent to: `sysctl -w net.bridge.bridge-nf-call-iptables=1`.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const SYSCTL = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/** Turns bridged IPv4 filtering on; returns why it cannot be, or undefined when it is on. */
export function ensureBridgeNetfilter(path = SYSCTL): string | undefined {
  try {
    if (readFileSync(path, 'utf8').trim() === '1') return undefined;
    writeFileSync(path, '1');
    return readFileSync(path, 'utf8').trim() === '1' ? undefined : `${path} stays 0`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'br_netfilter not loaded (modprobe br_netfilter)' : `${path}: ${(err as Error).message}`;
  }
}
