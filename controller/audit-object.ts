/**
 * The object an API call acted on, for the audit log: `network acme/blue`, `token <id>`,
 * `container acme/web`. Read from the route pattern and its parameters; a create names the
 * new object by the body's `name` (or, for tokens, the created id). Values are tenant data:
 * they are cut to a bounded length and stored as text, never interpreted.
 */
export function auditObject(routeUrl: string | undefined, params: Record<string, string | undefined>, created?: string): string | null {
  if (!routeUrl) return null;
  const segs = routeUrl.split('/').filter((s) => s !== '' && s !== 'v1');
  let kind: string | undefined;
  let name: string | undefined;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s.startsWith(':')) {
      if (segs[i - 1] && !segs[i - 1].startsWith(':')) kind = segs[i - 1];
      name = params[s.slice(1)];
    } else if (i === segs.length - 1 && created !== undefined) {
      kind = s; // POST to a collection: the object is the one created
      name = created;
    }
  }
  if (!kind) return null;
  const tenant = kind !== 'tenants' ? params.tenant : undefined;
  const id = [tenant, name].filter((x): x is string => typeof x === 'string' && x !== '').join('/');
  return `${singular(kind)}${id ? ` ${id}` : ''}`.slice(0, 300);
}

const singular = (s: string) => (s.endsWith('ies') ? `${s.slice(0, -3)}y` : s.endsWith('s') ? s.slice(0, -1) : s);
