/**
 * rpm's version comparison (rpmvercmp): split into alphanumeric segments, numbers
 * compare numerically and beat letters, `~` sorts before anything (pre-releases),
 * `^` after the base version but before any further segment.
 */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const sep = (c: string | undefined) => c !== undefined && !/[A-Za-z0-9~^]/.test(c);
  while (i < a.length || j < b.length) {
    while (sep(a[i])) i++;
    while (sep(b[j])) j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = /[0-9]/.test(a[i]);
    const re = numeric ? /^[0-9]+/ : /^[A-Za-z]+/;
    const sa = re.exec(a.slice(i))?.[0] ?? '';
    const sb = re.exec(b.slice(j))?.[0] ?? '';
    // a number segment is newer than a letter segment
    if (sb === '') return numeric ? 1 : -1;
    i += sa.length;
    j += sb.length;
    const c = numeric ? cmpNumeric(sa, sb) : sa < sb ? -1 : sa > sb ? 1 : 0;
    if (c !== 0) return c;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

function cmpNumeric(a: string, b: string): number {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface Evr {
  epoch?: number;
  version: string;
  release?: string;
}

/** Compares epoch, then version, then release, as rpm and dnf do. */
export function compareEvr(a: Evr, b: Evr): number {
  const e = (a.epoch ?? 0) - (b.epoch ?? 0);
  if (e !== 0) return e < 0 ? -1 : 1;
  return rpmvercmp(a.version, b.version) || rpmvercmp(a.release ?? '', b.release ?? '');
}
