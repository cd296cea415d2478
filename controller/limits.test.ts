import { describe, expect, it } from 'vitest';
import { parseTrustProxy } from './limits.js';
import { DbTimeoutError, isTimeout, isUnavailable, liveness } from './store/db.js';

describe('parseTrustProxy', () => {
  it('takes addresses and CIDRs, refuses names and bad prefixes', () => {
    expect(parseTrustProxy('10.0.0.1, 10.1.0.0/16,::1,fd00::/8')).toEqual(['10.0.0.1', '10.1.0.0/16', '::1', 'fd00::/8']);
    for (const bad of ['', 'proxy.local', '10.0.0.0/33', '10.0.0.1/8/1', 'true', 'loopback'])
      expect(() => parseTrustProxy(bad), bad).toThrow(/--trust-proxy/);
  });
});

describe('liveness', () => {
  it('fails a wait after stallMs without answers, keeps waiting while the database answers, hands a late value back', async () => {
    let t = 0;
    const alive = liveness(100, () => t);
    let resolveSlow!: (v: string) => void;
    const late: string[] = [];
    const slow = alive.wait(new Promise<string>((r) => (resolveSlow = r)), (v) => late.push(v));
    // answers elsewhere keep it waiting
    for (let i = 0; i < 5; i++) {
      t += 60;
      alive.answered();
      await new Promise((r) => setTimeout(r, 70));
    }
    t += 150;
    const err = await slow.catch((e) => e);
    expect(err).toBeInstanceOf(DbTimeoutError);
    expect([isTimeout(err), isUnavailable(err)]).toEqual([true, true]);
    resolveSlow('client');
    await new Promise((r) => setTimeout(r, 10));
    expect(late).toEqual(['client']);
    expect(await alive.wait(Promise.resolve(7), () => {})).toBe(7);
  });
});
