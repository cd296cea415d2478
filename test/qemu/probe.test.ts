/**
 * Host side of the capability probe check (the guest side is probe.kernel.ts):
 * the same agent code reports what this kernel can do. On this machine's kernel
 * geneve, ESP and gcm(aes) are missing; the probe must agree with iproute2.
 */
import { describe, expect, it } from 'vitest';
import { isRoot, SKIP_REASON } from '../support/netns.js';
import { kernelTruth, probeInFreshNs } from './lib/probe-run.js';

if (!isRoot) console.warn(`probe tests skipped: ${SKIP_REASON}`);

describe.skipIf(!isRoot)('capability probe on the host kernel', () => {
  it('reports geneve and ESP exactly as the kernel supports them, with a reason when missing', async () => {
    const truth = kernelTruth();
    const caps = await probeInFreshNs();
    expect(caps.vxlan).toBe(true);
    expect(caps.geneve).toBe(truth.geneve);
    expect(caps.esp).toBe(truth.esp);
    expect(caps.aead).toBe(truth.esp);
    if (!truth.geneve) expect(caps.details.geneve).toBeTruthy();
    if (!truth.esp) expect(caps.details.esp).toBeTruthy();
    if (truth.geneve || truth.esp)
      console.warn('this host kernel has geneve/ESP: the "unsupported" half runs only on kernels without them');
  });
});
