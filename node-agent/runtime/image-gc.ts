import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { installedImages, readInstalledManifest } from '../../images/install.js';
import { runOk } from '../../images/exec.js';
import { NAME_RE, parseImageRef, pkgName } from '../../images/ref.js';
import { rpmDefines, tenantRoot } from '../../images/rpmroot.js';
import { NO_CODE } from '../../images/install.js';

/** One installed image version of a tenant on this node: `tenant/name:version`, and its base's key. */
export interface InstalledVersion {
  key: string;
  tenant: string;
  name: string;
  version: string;
  release: string;
  base?: string;
}

export const versionKey = (tenant: string, name: string, version: string): string => `${tenant}/${name}:${version}`;

export interface GcInput {
  installed: readonly InstalledVersion[];
  /** Image versions the node's containers run (whatever their state): `tenant/name:version`. */
  used: ReadonlySet<string>;
  /** When each version was first seen unused (carried over from the previous plan). */
  unusedSince: ReadonlyMap<string, number>;
  now: number;
  graceMs: number;
}

export interface GcPlan {
  /** Derivatives before their bases, so rpm never removes a layer another removed one sits on first. */
  remove: InstalledVersion[];
  unusedSince: Map<string, number>;
}

/**
 * Which installed image versions to remove (pure): those no container uses, directly or as a
 * base of what one uses, for at least the grace period. A version used again is forgotten.
 */
export function planImageGc(inp: GcInput): GcPlan {
  const byKey = new Map(inp.installed.map((i) => [i.key, i]));
  const keep = new Set<string>();
  for (const u of inp.used) {
    for (let k: string | undefined = u, n = 0; k && !keep.has(k) && n < 16; n++) {
      keep.add(k);
      k = byKey.get(k)?.base;
    }
  }
  const unusedSince = new Map<string, number>();
  const remove: InstalledVersion[] = [];
  for (const i of inp.installed) {
    if (keep.has(i.key)) continue;
    const since = inp.unusedSince.get(i.key) ?? inp.now;
    unusedSince.set(i.key, since);
    if (inp.now - since >= inp.graceMs) remove.push(i);
  }
  // a base after every removed derivative of it
  const depth = (i: InstalledVersion): number => {
    let d = 0;
    for (let b = i.base; b && d < 16; b = byKey.get(b)?.base) d++;
    return d;
  };
  remove.sort((a, b) => depth(b) - depth(a) || (a.key < b.key ? -1 : 1));
  return { remove, unusedSince };
}

/** Every tenant root's installed image versions, with their base (from the manifest). */
export async function listInstalled(stateDir: string): Promise<InstalledVersion[]> {
  const tenants = (await readdir(path.join(stateDir, 'rpm-images')).catch(() => [] as string[])).filter((t) => NAME_RE.test(t));
  const out: InstalledVersion[] = [];
  for (const tenant of tenants) {
    const root = tenantRoot(stateDir, tenant);
    for (const i of await installedImages(root)) {
      const m = await readInstalledManifest(root, i.name, i.version).catch(() => undefined);
      out.push({
        key: versionKey(tenant, i.name, i.version),
        tenant,
        name: i.name,
        version: i.version,
        release: i.release,
        ...(m?.base ? { base: versionKey(tenant, m.base.name, m.base.version) } : {}),
      });
    }
  }
  return out;
}

/** `tenant/name:version` of a container's pinned RPM image, or undefined for a directory image. */
export function usedKey(c: { tenant: string; image: string; imageSource?: unknown }): string | undefined {
  if (!c.imageSource || !c.image.includes(':')) return undefined;
  const r = parseImageRef(c.image);
  return r.version ? versionKey(c.tenant, r.name, r.version) : undefined;
}

/**
 * Removes an image version from its tenant's rpm root: its files (the layer) and its rpm record.
 * No scriptlets, no dependency check (a base is removed only after every derivative of it).
 */
export async function removeInstalled(stateDir: string, i: InstalledVersion): Promise<void> {
  const root = tenantRoot(stateDir, i.tenant);
  await runOk(`remove image ${i.key}`, 'command_failed', 'rpm', [
    '--root',
    root,
    ...rpmDefines(),
    ...NO_CODE,
    '--nodeps',
    '-e',
    '--',
    `${pkgName(i.name)}-${i.version}-${i.release}`,
  ]);
}
