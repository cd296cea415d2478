import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { retryThenApiError } from './retry-map.js';

const sqlError = (code: string) => Object.assign(new Error(`sql ${code}`), { code });

describe('retryThenApiError', () => {
  it('runs the work again on a serialization failure, then returns its answer', async () => {
    let calls = 0;
    const r = await retryThenApiError('create network acme/blue', async () => {
      if (++calls < 3) throw sqlError('40001');
      return 'ok';
    });
    expect([r, calls]).toEqual(['ok', 3]);
  });

  it('maps what is still thrown to an ApiError naming the operation, the original as cause', async () => {
    const boom = new Error('boom');
    const e = await retryThenApiError('get network acme/blue', async () => {
      throw boom;
    }).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect([e.code, e.message, e.cause]).toEqual(['internal', 'get network acme/blue: internal error', boom]);
    const mine = new ApiError('network_not_found', 'get network acme/blue: no such network');
    await expect(
      retryThenApiError('x', async () => {
        throw mine;
      }),
    ).rejects.toBe(mine);
  });
});
