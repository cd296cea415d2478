import { toApiError } from '../errors.js';
import { withRetry } from '../store/retry.js';

/** Runs a store call, naming the operation and object in any error (`create network acme/blue: …`). */
export async function guard<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withRetry(fn);
  } catch (err) {
    throw toApiError(err, op);
  }
}
