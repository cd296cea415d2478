/**
 * Code-unit order of two strings, as `[].sort()` orders them. For names and ids in planners:
 * deterministic like localeCompare, but without ICU collation, which cost a cold agent tens of
 * milliseconds over the 10,000 rules of bench/policy.ts.
 */
export const codeOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
