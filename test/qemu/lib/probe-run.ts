/** Runs the agent's capability probe (node-agent/kernel/probe.ts, via the dataplane driver's ready message) in a fresh namespace. */
import { spawnSync } from 'node:child_process';
import type { Capabilities } from '../../../protocol/stream.js';
import { Namespaces, uniqueTag } from '../../support/netns.js';
import { Driver } from './driver.js';

export async function probeInFreshNs(): Promise<Capabilities> {
  const nss = new Namespaces();
  const ns = nss.add(`fqprobe-${uniqueTag()}`);
  const d = new Driver({ index: 0, name: 'probe', ns, underlayIp: '198.18.9.1' }, 3_600_000);
  try {
    return (await d.ready).capabilities as Capabilities;
  } finally {
    await d.kill();
    nss.cleanup();
  }
}

/** Ground truth with iproute2 in a fresh namespace: can this kernel make a geneve link and an rfc4106 ESP SA? */
export function kernelTruth(): { geneve: boolean; esp: boolean } {
  const nss = new Namespaces();
  const ns = nss.add(`fqtruth-${uniqueTag()}`);
  const ok = (args: string[]) => spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' }).status === 0;
  try {
    return {
      geneve: ok(['link', 'add', 'g0', 'type', 'geneve', 'id', '5', 'remote', '198.18.9.2']),
      esp: ok([
        'xfrm',
        'state',
        'add',
        'src',
        '198.18.9.1',
        'dst',
        '198.18.9.2',
        'proto',
        'esp',
        'spi',
        '0x100',
        'mode',
        'transport',
        'aead',
        'rfc4106(gcm(aes))',
        '0x' + '01'.repeat(20),
        '128',
      ]),
    };
  } finally {
    nss.cleanup();
  }
}
