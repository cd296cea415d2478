/** Guest side of the capability probe: Debian's kernel has geneve, ESP and rfc4106(gcm(aes)); the same code must say so. */
import { describe, expect, it } from 'vitest';
import { kernelTruth, probeInFreshNs } from './lib/probe-run.js';

describe('capability probe in the guest kernel', () => {
  it('reports vxlan, geneve, ESP and AEAD as supported', async () => {
    expect(kernelTruth()).toEqual({ geneve: true, esp: true });
    const caps = await probeInFreshNs();
    expect(caps).toMatchObject({ vxlan: true, geneve: true, esp: true, aead: true, details: {} });
  });
});
