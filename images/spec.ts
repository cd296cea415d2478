import { ImageError } from './errors.js';
import type { Manifest } from './manifest.js';
import { capability, payloadPath, pkgName } from './ref.js';

export interface SpecInput {
  manifest: Manifest;
  /** Directory whose contents become the image's rootfs. */
  rootfsDir: string;
  /** The manifest.json file to ship beside rootfs/. */
  manifestFile: string;
  release?: string;
  /**
   * The packages of the tree's rpm database, provided as `freight-component(NAME) = E:V-R`:
   * a repository's metadata then says what each image version contains.
   */
  components?: ReadonlyArray<{ name: string; epoch: number; version: string; release: string }>;
}

/**
 * The rpm spec of an image: the rootfs under a per-version prefix, no dependency
 * scanning (an image is a closed tree), no strip/debuginfo passes (files ship as given).
 * Names and versions are validated before they get here; paths are quoted.
 */
export function renderSpec(input: SpecInput): string {
  assertSpecSafePath(input.rootfsDir, 'rootfs directory');
  assertSpecSafePath(input.manifestFile, 'manifest file');
  const m = input.manifest;
  const prefix = payloadPath(m.name, m.version);
  const lines = [
    `Name: ${pkgName(m.name)}`,
    `Version: ${m.version}`,
    `Release: ${input.release ?? '1'}`,
    `Summary: Freight container image ${m.name} ${m.version}`,
    'License: unspecified',
    'AutoReqProv: no',
    `Provides: ${capability(m.name)} = ${m.version}`,
    ...(m.base ? [`Requires: ${capability(m.base.name)} = ${m.base.version}`] : []),
    ...(input.components ?? []).map((c) => `Provides: freight-component(${c.name}) = ${c.epoch}:${c.version}-${c.release}`),
    '%define debug_package %{nil}',
    '%define __os_install_post %{nil}',
    '%define _build_id_links none',
    '',
    '%description',
    `Freight container image ${m.name} ${m.version}${m.base ? `, layered over ${m.base.name} ${m.base.version}` : ''}.`,
    '',
    '%install',
    `mkdir -p "%{buildroot}${prefix}"`,
    `cp -a "${input.rootfsDir}/." "%{buildroot}${prefix}/rootfs"`,
    `install -m 0644 "${input.manifestFile}" "%{buildroot}${prefix}/manifest.json"`,
    '',
    '%files',
    // '-' keeps each file's owner and mode from the tree (an OS image has non-root owners)
    '%defattr(-,-,-,-)',
    `${prefix}`,
    '',
  ];
  return lines.join('\n');
}

/**
 * A path that goes into a spec or a `--define` is read by rpm's macro expander (`%{…}`,
 * `%(shell)`) and, in %install, by /bin/sh inside double quotes (`$`, backquote, `\\`, `"`).
 * Such characters (and newlines) are refused rather than escaped.
 */
export function assertSpecSafePath(p: string, what: string): void {
  if (/[%$`"\\\n\r]/.test(p))
    throw new ImageError('build_failed', `${what} ${JSON.stringify(p)}: a path with % $ \` " \\ or a newline cannot go into an rpm spec`);
}
