import { toApiError } from '../errors.js';
import { withRetry } from '../store/retry.js';

/**
 * Runs a handler's work again on serialization failures, deadlocks and allocation races, then
 * maps what it still throws to an ApiError naming the operation and object (`create network acme/blue: …`).
 */
export async function retryThenApiError<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withRetry(fn);
  } catch (err) {
    throw toApiError(err, op);
  }
}
