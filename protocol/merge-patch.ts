/**
 * JSON merge patch (RFC 7386): what PATCH bodies are. An object patch merges key by key, `null`
 * removes a key, anything else (arrays included) replaces the value whole.
 */
export const MERGE_PATCH_TYPE = 'application/merge-patch+json';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The target with the patch applied (the inputs are not changed). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
