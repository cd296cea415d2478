import { ImageError } from './errors.js';
import { parseImageRef, type ImageRef } from './ref.js';
import { compareEvr } from './rpmvercmp.js';

/** What resolution needs of an available image: name and rpm version fields. */
export interface Versioned {
  name: string;
  epoch?: number;
  version: string;
  release?: string;
}

/** The newest offered version of `name`, or undefined. */
export function newestOf<T extends Versioned>(available: readonly T[], name: string): T | undefined {
  let best: T | undefined;
  for (const a of available) if (a.name === name && (!best || compareEvr(a, best) > 0)) best = a;
  return best;
}

/**
 * Resolves `NAME[:VERSION]` against what the tenant's repositories offer: the
 * named version, or the newest one when none is given.
 */
export function resolveImage<T extends Versioned>(ref: string | ImageRef, available: readonly T[]): T {
  const r = typeof ref === 'string' ? parseImageRef(ref) : ref;
  if (!r.version) {
    const n = newestOf(available, r.name);
    if (!n) throw new ImageError('not_found', `resolve image ${r.name}: no repository of the tenant offers it`);
    return n;
  }
  const matches = available.filter((a) => a.name === r.name && a.version === r.version);
  const best = newestOf(matches, r.name); // the newest release of that version
  if (!best) throw new ImageError('not_found', `resolve image ${r.name}:${r.version}: no repository of the tenant offers that version`);
  return best;
}

export interface ContainerImage {
  /** Container id or name, returned as given. */
  container: string;
  /** `NAME:VERSION` the container runs. */
  image: string;
}

export interface Outdated {
  container: string;
  name: string;
  current: string;
  newest: string;
}

/** The containers whose image has a newer version in the repositories (pure: give it the index). */
export function outdated(containers: readonly ContainerImage[], available: readonly Versioned[]): Outdated[] {
  const out: Outdated[] = [];
  for (const c of containers) {
    const ref = parseImageRef(c.image);
    if (!ref.version) continue; // unpinned: it runs whatever was newest when it started; nothing to compare
    const n = newestOf(available, ref.name);
    if (n && compareEvr(n, { version: ref.version, release: n.release }) > 0) {
      out.push({ container: c.container, name: ref.name, current: ref.version, newest: n.version });
    }
  }
  return out;
}
